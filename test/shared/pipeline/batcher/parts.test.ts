import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeCsvRow } from '#shared/format/csv.ts';
import { PartWriter } from '#shared/format/parts.ts';
import { type TempStores, tempStores } from './support.ts';

let temp: TempStores | undefined;
afterEach(async () => {
  await temp?.remove();
  temp = undefined;
});

describe('PartWriter.writeEncoded (rows encoded on another thread)', () => {
  it('counts rows, closes parts at the first write that reaches the target, and keeps the bytes', async () => {
    temp = await tempStores('parts');
    const writer = new PartWriter({ store: temp.staging, prefix: 'staging/events/x/', partTargetBytes: 100 });
    const rows = Array.from({ length: 12 }, (_, i) => encodeCsvRow([`row ${i}`, 'é "quoted", 😀', null]));
    const runs = [rows.slice(0, 3), rows.slice(3, 4), rows.slice(4, 9), rows.slice(9)];
    expect(writer.write(rows[0]!.replace('row 0', 'string row'))).toBeUndefined();
    for (const run of runs) {
      const waiting = writer.writeEncoded(Buffer.from(run.join('')), run.length);
      if (waiting) await waiting;
    }
    const parts = await writer.close();
    const text = (
      await Promise.all(parts.map(async (part) => gunzipSync(await temp!.staging.getBytes(part.key))))
    )
      .map((bytes) => bytes.toString('utf8'))
      .join('');
    expect(text).toBe(rows[0]!.replace('row 0', 'string row') + rows.join(''));
    // 1 + 3 rows reach 100 bytes; the lone row of the second run does not, the next five do.
    expect(parts.map((part) => part.rows)).toEqual([4, 6, 3]);
    expect(parts.reduce((sum, part) => sum + part.rawBytes, 0)).toBe(Buffer.byteLength(text));
  });

  it('refuses bytes that do not end a line and a row count below one', async () => {
    temp = await tempStores('parts');
    const writer = new PartWriter({ store: temp.staging, prefix: 'p/' });
    expect(() => writer.writeEncoded(Buffer.from('"a"'), 1)).toThrow(/ending in "\\n"/);
    expect(() => writer.writeEncoded(Buffer.from('"a"\n'), 0)).toThrow(/ending in "\\n"/);
    await writer.abort();
  });
});
