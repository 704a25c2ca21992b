/**
 * One measurement of bench/export-api.ts in its own process, so its peak RSS is the client's
 * alone: `export-api-child.ts <download|pull> <base url> <work dir> <start hour> <end hour>`,
 * credentials in AMPLITUDE_API_KEY / AMPLITUDE_SECRET_KEY. Prints one JSON line (ChildResult).
 *   download: GET the answer and stream it to a file, nothing else (what the network and disk allow)
 *   pull:     pullHours into a folder store (download, check every entry, write every file)
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ExportApiClient } from '#shared/sources/amplitude-export-api/client.ts';
import { credentialsFromEnv } from '#shared/sources/amplitude-export-api/credentials.ts';
import { pullHours } from '#shared/sources/amplitude-export-api/pull.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';

export interface ChildResult {
  readonly ms: number;
  readonly maxRssMb: number;
  readonly bytesDownloaded: number;
  readonly files: number;
  readonly bytesWritten: number;
}

async function download(baseUrl: string, work: string, start: string, end: string) {
  const credentials = credentialsFromEnv(process.env);
  const api = (hour: string) => hour.replace(/-/g, '');
  const response = await fetch(`${baseUrl}/api/2/export?start=${api(start)}&end=${api(end)}`, {
    headers: { authorization: credentials.authorization() },
  });
  if (response.status !== 200 || !response.body) throw new Error(`download answered ${response.status}`);
  let bytes = 0;
  const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  await pipeline(body, createWriteStream(join(work, 'download.zip')));
  return { bytesDownloaded: bytes, files: 0, bytesWritten: 0 };
}

async function pull(baseUrl: string, work: string, start: string, end: string) {
  const tempDir = join(work, 'tmp');
  await mkdir(tempDir, { recursive: true });
  const report = await pullHours({
    api: new ExportApiClient({ credentials: credentialsFromEnv(process.env), baseUrl, tempDir }),
    landing: new FileSystemObjectStore(join(work, 'landing')),
    settings: { landingPrefix: '', maxHoursPerRequest: 24 },
    startHour: start,
    endHour: end,
  });
  return {
    bytesDownloaded: report.bytesDownloaded,
    files: report.hours.reduce((sum, hour) => sum + hour.written, 0),
    bytesWritten: report.hours.reduce((sum, hour) => sum + hour.bytes, 0),
  };
}

const [mode, baseUrl, work, start, end] = process.argv.slice(2);
if (!baseUrl || !work || !start || !end || (mode !== 'download' && mode !== 'pull')) {
  throw new Error('usage: export-api-child.ts <download|pull> <base url> <work dir> <start hour> <end hour>');
}
await mkdir(work, { recursive: true });
const started = performance.now();
const counts =
  mode === 'download' ? await download(baseUrl, work, start, end) : await pull(baseUrl, work, start, end);
const ms = performance.now() - started;
const result: ChildResult = { ...counts, ms, maxRssMb: process.resourceUsage().maxRSS / 1024 };
process.stdout.write(`${JSON.stringify(result)}\n`);
