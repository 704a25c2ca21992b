/**
 * Export API pull throughput and memory: MB/s from the HTTP answer to files in landing, and
 * peak RSS, for one answer of BENCH_EXPORT_API_MB megabytes (default 512).
 *
 * Not timed: 24 hours × 2 gzip NDJSON files of base64 noise (gzip cannot shrink them much,
 * so the zip really is that large) are written to a temp folder and zipped once with yazl.
 * A node:http server in this process streams the zip from disk like the Export API (Basic
 * auth, Content-Length). Then, each in a fresh child process (so its peak RSS is its own):
 *   download: the answer streamed to a file, nothing else: the ceiling on this machine;
 *   pull:     pullHours into a folder store: download to a temp file, check every entry
 *             (zip CRC, full gunzip), write every file under its S3-export name.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { ZipFile } from 'yazl';
import { type Benchmark, round2, runChild } from './benchmark.ts';
import type { ChildResult } from './export-api-child.ts';

const CHILD = fileURLToPath(new URL('./export-api-child.ts', import.meta.url));
const PROJECT_ID = '187520';
const DAY = '2024-05-01';
const HOURS = 24;
const PARTS_PER_HOUR = 2;
const API_KEY = 'bench-api-key';
const SECRET_KEY = 'bench-secret-key';
const MB = 1e6;

export const benchmark: Benchmark = {
  name: 'export-api',
  description:
    'Export API answer -> landing files: MB/s and peak RSS of pullHours vs a plain download, one large zip',
  async *run() {
    const targetMb = Number(process.env.BENCH_EXPORT_API_MB ?? '512');
    if (!Number.isFinite(targetMb) || targetMb < 1)
      throw new Error(`BENCH_EXPORT_API_MB: bad size ${targetMb}`);
    const dir = await mkdtemp(join(tmpdir(), 'bench-export-api-'));
    try {
      process.stderr.write(`  generating a ~${targetMb} MB export zip ...\n`);
      const zipFile = join(dir, 'export.zip');
      const generated = await generateZip(
        join(dir, 'parts'),
        zipFile,
        (targetMb * MB) / (HOURS * PARTS_PER_HOUR),
      );
      const zipBytes = (await stat(zipFile)).size;
      const server = await serve(zipFile, zipBytes);
      try {
        const start = `${DAY}T00`;
        const end = `${DAY}T${String(HOURS - 1).padStart(2, '0')}`;
        process.stderr.write('  download only ...\n');
        const download = await child('download', server.url, join(dir, 'download'), start, end);
        await rm(join(dir, 'download'), { recursive: true, force: true });
        process.stderr.write('  pullHours ...\n');
        const pull = await child('pull', server.url, join(dir, 'pull'), start, end);
        if (
          pull.files !== generated.files ||
          pull.bytesWritten !== generated.bytes ||
          pull.bytesDownloaded !== zipBytes
        ) {
          throw new Error(
            `pull wrote ${pull.files} files / ${pull.bytesWritten} bytes from ${pull.bytesDownloaded} downloaded; expected ${generated.files} / ${generated.bytes} from ${zipBytes}`,
          );
        }
        yield {
          name: 'export-api',
          zipMb: round2(zipBytes / MB),
          files: pull.files,
          uncompressedMb: round2(generated.rawBytes / MB),
          pullSeconds: round2(pull.ms / 1000),
          pullMbPerSec: round2(zipBytes / MB / (pull.ms / 1000)),
          pullPeakRssMb: round2(pull.maxRssMb),
          downloadMbPerSec: round2(zipBytes / MB / (download.ms / 1000)),
          downloadPeakRssMb: round2(download.maxRssMb),
          ratio: round2(download.ms / pull.ms),
        };
      } finally {
        await server.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};

interface Generated {
  readonly files: number;
  /** Bytes of the gzip files (what lands). */
  readonly bytes: number;
  /** Bytes before gzip. */
  readonly rawBytes: number;
}

/** Writes the gzip parts to `partsDir`, zips them (stored, as they are gzip already) into `zipFile`. */
async function generateZip(partsDir: string, zipFile: string, partBytes: number): Promise<Generated> {
  await mkdir(partsDir, { recursive: true });
  const zip = new ZipFile();
  const written = once(zip.outputStream.pipe(createWriteStream(zipFile)), 'close');
  let bytes = 0;
  let rawBytes = 0;
  let files = 0;
  for (let hour = 0; hour < HOURS; hour++) {
    for (let part = 0; part < PARTS_PER_HOUR; part++) {
      const name = `${PROJECT_ID}_${DAY}_${hour}#${part}.json.gz`;
      const path = join(partsDir, name);
      const sizes = await writeNoiseGzip(path, partBytes, `${hour}-${part}`);
      bytes += sizes.gzip;
      rawBytes += sizes.raw;
      files++;
      zip.addFile(path, `${PROJECT_ID}/${name}`, { compress: false });
    }
  }
  zip.end();
  await written;
  return { files, bytes, rawBytes };
}

/** NDJSON events whose payload is base64 of random bytes, gzip level 1, until `target` gzip bytes. */
async function writeNoiseGzip(
  path: string,
  target: number,
  id: string,
): Promise<{ gzip: number; raw: number }> {
  const gzip = createGzip({ level: 1 });
  const out = createWriteStream(path);
  let compressed = 0;
  gzip.on('data', (chunk: Buffer) => {
    compressed += chunk.length;
  });
  const done = once(gzip.pipe(out), 'close');
  let raw = 0;
  for (let n = 0; compressed < target; n++) {
    const line = `{"uuid":"${id}-${n}","event_type":"bench","server_upload_time":"${DAY} 00:00:00.000000","event_properties":{"noise":"${randomBytes(3072).toString('base64')}"}}\n`;
    raw += line.length;
    if (!gzip.write(line)) await once(gzip, 'drain');
  }
  gzip.end();
  await done;
  return { gzip: (await stat(path)).size, raw };
}

async function serve(zipFile: string, size: number): Promise<{ url: string; close: () => Promise<void> }> {
  const expected = `Basic ${Buffer.from(`${API_KEY}:${SECRET_KEY}`).toString('base64')}`;
  const server = createServer((request, response) => {
    if (request.headers.authorization !== expected) {
      response.writeHead(401).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/zip', 'content-length': String(size) });
    createReadStream(zipFile).pipe(response);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function child(
  mode: 'download' | 'pull',
  url: string,
  work: string,
  start: string,
  end: string,
): Promise<ChildResult> {
  return runChild<ChildResult>(CHILD, [mode, url, work, start, end], {
    ...process.env,
    AMPLITUDE_API_KEY: API_KEY,
    AMPLITUDE_SECRET_KEY: SECRET_KEY,
  });
}
