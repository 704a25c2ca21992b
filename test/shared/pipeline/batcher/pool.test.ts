import { describe, expect, it } from 'vitest';
import { inThreadRunner, sliceRunner } from '#shared/pipeline/batcher/pool.ts';
import type { SliceRequest } from '#shared/pipeline/batcher/slices.ts';

function request(index: number): SliceRequest {
  const lines = Array.from({ length: 20 }, (_, i) =>
    i === 7
      ? 'not json'
      : JSON.stringify({
          uuid: `u-${index}-${i}`,
          event_type: 'Page Viewed',
          amplitude_id: 1000 + i,
          event_time: '2024-05-01 10:00:00.000001',
          server_upload_time: '2024-05-01 10:00:01',
          user_id: `quote " and comma , ${i}`,
        }),
  );
  return {
    feed: 'events',
    batchId: 'ev-20240501-pool',
    bytes: Buffer.from(`${lines.join('\n')}\n`),
    fileStart: index === 0,
  };
}

describe('sliceRunner', () => {
  it('keeps one pool per thread count and answers like the calling thread, in order, under load', async () => {
    const runner = await sliceRunner(1);
    expect(runner.threads).toBe(1);
    expect(await sliceRunner(1)).toBe(runner);
    expect((await sliceRunner(0)).threads).toBe(0);

    // A view into Node's shared small-Buffer pool is copied, not moved: the pool stays usable.
    const small = Buffer.from(
      '{"uuid":"small","event_type":"e","amplitude_id":1,"event_time":"2024-05-01 10:00:00","server_upload_time":"2024-05-01 10:00:00"}\n',
    );
    expect(small.buffer.byteLength).toBeGreaterThan(small.byteLength);
    expect(
      (await runner.submit({ feed: 'events', batchId: 'ev-1', bytes: small, fileStart: true })).keys,
    ).toEqual(['small']);
    expect(small.byteLength).toBeGreaterThan(0);
    expect(Buffer.from('still works').toString()).toBe('still works');

    const local = inThreadRunner();
    // More slices at once than the thread queues take: some run on this thread meanwhile.
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => runner.submit(request(i))));
    for (let i = 0; i < results.length; i++) {
      const expected = await local.submit(request(i));
      const result = results[i]!;
      expect(result.keys).toEqual(expected.keys);
      expect(Buffer.from(result.csv).equals(Buffer.from(expected.csv))).toBe(true);
      expect([...result.rowEnds]).toEqual([...expected.rowEnds]);
      expect(result.rejected).toEqual([
        { reason: 'malformed_json', detail: expect.any(String), lineNumber: 8, line: 'not json' },
      ]);
      expect(result.keys[0]).toBe(`u-${i}-0`);
    }
  });
});
