import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_PROJECT_ID, writeNextDemoHour } from '#cli/local/demo.ts';
import { writeSampleHour } from '#shared/sample/hour.ts';

const NOW = new Date('2026-03-02T05:40:00Z');

describe("the demo's producer (npm start)", () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'demo-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** An hour the demo wrote earlier (before a restart). */
  const writeHour = (start: string) =>
    writeSampleHour(dir, {
      projectId: DEMO_PROJECT_ID,
      orgId: '36958',
      hour: Date.parse(start) / 3_600_000,
      part: 0,
    });

  const eventFiles = async () =>
    (await readdir(dir))
      .filter((name) => name.startsWith(`${DEMO_PROJECT_ID}_`) && name.endsWith('.json.gz'))
      .sort();

  it('writes the hour after the newest one in the landing folder, and never rewrites one', async () => {
    await writeHour('2026-03-02T01:00:00Z');
    const first = join(dir, `${DEMO_PROJECT_ID}_2026-03-02_1#0.json.gz`);
    const before = (await stat(first)).mtimeMs;

    expect(await writeNextDemoHour(dir, NOW)).toMatch(/^demo: wrote hour 2026-03-02T02 part 0: /);
    // A restarted demo reads where to go on from the folder itself.
    expect(await writeNextDemoHour(dir, NOW)).toMatch(/^demo: wrote hour 2026-03-02T03 part 0: /);
    expect(await eventFiles()).toEqual([
      `${DEMO_PROJECT_ID}_2026-03-02_1#0.json.gz`,
      `${DEMO_PROJECT_ID}_2026-03-02_2#0.json.gz`,
      `${DEMO_PROJECT_ID}_2026-03-02_3#0.json.gz`,
    ]);
    expect((await stat(first)).mtimeMs).toBe(before);
    expect(await readdir(dir)).toContain('-36958_2026-03-02_3.json.gz');
  });

  it('does not run ahead of the clock: once caught up it writes late parts of the current hour', async () => {
    await writeNextDemoHour(dir, NOW);
    await writeNextDemoHour(dir, NOW);
    await writeNextDemoHour(dir, NOW);
    expect(await eventFiles()).toEqual([
      `${DEMO_PROJECT_ID}_2026-03-02_5#0.json.gz`,
      `${DEMO_PROJECT_ID}_2026-03-02_5#1.json.gz`,
      `${DEMO_PROJECT_ID}_2026-03-02_5#2.json.gz`,
    ]);
  });

  it('after a long pause goes on inside the look-back window, not days behind it', async () => {
    await writeHour('2026-02-20T07:00:00Z');
    expect(await writeNextDemoHour(dir, NOW)).toMatch(/^demo: wrote hour 2026-03-01T05 part 0: /);
  });

  it("puts a few duplicates, an earlier file's event and one broken line in each hour", async () => {
    await writeNextDemoHour(dir, new Date('2026-03-02T04:10:00Z'));
    await writeNextDemoHour(dir, NOW);
    const read = async (name: string) =>
      gunzipSync(await readFile(join(dir, name)))
        .toString('utf8')
        .trimEnd()
        .split('\n');
    const earlier = await read(`${DEMO_PROJECT_ID}_2026-03-02_4#0.json.gz`);
    const lines = await read(`${DEMO_PROJECT_ID}_2026-03-02_5#0.json.gz`);
    const parsed = lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as { uuid: string }];
      } catch {
        return [];
      }
    });
    expect(lines.length - parsed.length).toBe(1);
    const uuids = parsed.map((event) => event.uuid);
    // 200 new events, 3 repeated within the file, 1 repeated from the hour before.
    expect(new Set(uuids).size).toBe(201);
    expect(uuids).toHaveLength(204);
    const earlierUuids = new Set(
      earlier.flatMap((line) => (line.endsWith('}') ? [JSON.parse(line).uuid] : [])),
    );
    expect(uuids.filter((uuid) => earlierUuids.has(uuid))).toHaveLength(1);
  });
});
