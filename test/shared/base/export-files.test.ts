import { describe, expect, it } from 'vitest';
import { completeMarkerName, parseLandingKey } from '#shared/base/export-files.ts';

describe('parseLandingKey', () => {
  const parse = (key: string, prefix = '') => parseLandingKey({ key, etag: 'e', size: 1 }, prefix);

  it('reads the Amplitude S3-export names of both feeds', () => {
    expect(parse('187520_2024-05-01_7#3.json.gz')).toMatchObject({
      feed: 'events',
      owner: '187520',
      day: '2024-05-01',
      hour: 7,
      part: 3,
      gzip: true,
    });
    expect(parse('exports/-36958_2024-05-01_23.json.gz', 'exports/')).toMatchObject({
      feed: 'merge_ids',
      owner: '36958',
      hour: 23,
      part: 0,
    });
    expect(parse('187520_2024-05-01_07#0.json')).toMatchObject({ hour: 7, gzip: false });
  });

  it('refuses markers, impossible dates and hours, other folders and other names', () => {
    for (const key of [
      completeMarkerName('187520', '2024-05-01', 7),
      '187520_2024-02-30_1#0.json.gz',
      '187520_2024-05-01_24#0.json.gz',
      'nested/187520_2024-05-01_1#0.json.gz',
      '187520_2024-05-01_1#0.csv.gz',
      'README.md',
    ]) {
      expect(parse(key), key).toBeUndefined();
    }
  });
});
