import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { ZipFile } from 'yazl';

const HOUR_MS = 3_600_000;

/** Something the fake does instead of answering normally, for one request. */
export type Fault =
  | {
      readonly kind: 'status';
      readonly status: number;
      readonly headers?: Record<string, string>;
      readonly body?: string;
    }
  /** Waits before sending anything (the client's response timeout should fire). */
  | { readonly kind: 'slow-headers'; readonly ms: number }
  /** Sends part of a real answer, then pauses (the client's idle timeout should fire). */
  | { readonly kind: 'stall'; readonly afterBytes: number; readonly ms: number }
  /** Promises the whole answer in Content-Length, sends part of it and closes the connection. */
  | { readonly kind: 'truncate'; readonly afterBytes: number }
  /** Sends the first bytes of the real answer as if they were all (a cut zip with a matching length). */
  | { readonly kind: 'cut-zip'; readonly keepBytes: number }
  /** 200 with bytes that are not a zip. */
  | { readonly kind: 'garbage' }
  /** Repeats the request's Authorization header in an error body (what a careless proxy might do). */
  | { readonly kind: 'echo-auth'; readonly status: number };

export interface RecordedRequest {
  readonly start: string;
  readonly end: string;
  readonly authorization: string | undefined;
  readonly path: string;
}

export interface ExtraEntry {
  readonly path: string;
  readonly data: Buffer;
}

export interface FakeExportApiOptions {
  readonly apiKey: string;
  readonly secretKey: string;
  readonly projectId: string;
}

/**
 * A stand-in for Amplitude's Export API on 127.0.0.1: `GET /api/2/export?start=&end=` with
 * Basic auth answers a zip (built with yazl) of `<projectId>/<projectId>_<day>_<H>#<n>.json.gz`
 * files of the hours asked for, 404 when none, and the size errors and faults a test sets.
 */
export class FakeExportApi {
  readonly requests: RecordedRequest[] = [];
  /** Hour index -> the gzip files of that hour, `#0`, `#1`, ... */
  readonly hours = new Map<number, Buffer[]>();
  /** Entries added to every answer as they are (odd names, damaged files). */
  extraEntries: ExtraEntry[] = [];
  /** Requests over more hours than this are answered `tooLargeStatus`. */
  maxHours = Number.POSITIVE_INFINITY;
  tooLargeStatus = 400;
  /** Single hours always answered `tooLargeStatus` (an hour over 4 GB). */
  readonly hugeHours = new Set<number>();
  /** Applied one per request, in order, before normal answers. */
  readonly faults: Fault[] = [];
  /** Applied to every request (after `faults` is empty). */
  alwaysFault: Fault | undefined;
  url = '';
  readonly #server: Server;

  constructor(private readonly options: FakeExportApiOptions) {
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        response.destroy(error as Error);
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** The expected Authorization header. */
  get authorization(): string {
    return `Basic ${Buffer.from(`${this.options.apiKey}:${this.options.secretKey}`).toString('base64')}`;
  }

  /** Sets an hour's files to gzip NDJSON of these line groups (one group per `#n`). */
  setHour(hour: number, parts: readonly (readonly string[])[]): Buffer[] {
    const files = parts.map((lines) => gzipSync(`${lines.join('\n')}\n`));
    this.hours.set(hour, files);
    return files;
  }

  /** The name Amplitude gives a file inside the zip. */
  entryPath(hour: number, part: number): string {
    const iso = new Date(hour * HOUR_MS).toISOString();
    const { projectId } = this.options;
    return `${projectId}/${projectId}_${iso.slice(0, 10)}_${Number(iso.slice(11, 13))}#${part}.json.gz`;
  }

  /** The zip the API would answer for these hours. */
  async zipFor(first: number, last: number): Promise<Buffer | undefined> {
    const zip = new ZipFile();
    let count = 0;
    for (let hour = first; hour <= last; hour++) {
      for (const [part, data] of (this.hours.get(hour) ?? []).entries()) {
        // Alternate deflated and stored entries: both occur in real zips.
        zip.addBuffer(data, this.entryPath(hour, part), { compress: count % 2 === 0 });
        count++;
      }
    }
    for (const extra of this.extraEntries) {
      zip.addBuffer(extra.data, extra.path);
      count++;
    }
    if (count === 0) return undefined;
    zip.end();
    const chunks: Buffer[] = [];
    for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const start = url.searchParams.get('start') ?? '';
    const end = url.searchParams.get('end') ?? '';
    this.requests.push({ start, end, authorization: request.headers.authorization, path: url.pathname });
    if (url.pathname !== '/api/2/export') return plain(response, 404, 'Not Found');
    if (request.headers.authorization !== this.authorization) return plain(response, 401, 'Invalid API key');

    const first = parseApiHour(start);
    const last = parseApiHour(end);
    if (first === undefined || last === undefined || first > last)
      return plain(response, 400, 'Bad start or end');
    const fault = this.faults.shift() ?? this.alwaysFault;
    if (fault?.kind === 'status') {
      response.writeHead(fault.status, { 'content-type': 'text/plain', ...fault.headers });
      response.end(fault.body ?? `status ${fault.status}`);
      return;
    }
    if (fault?.kind === 'echo-auth') {
      return plain(
        response,
        fault.status,
        `upstream rejected request with Authorization: ${request.headers.authorization}`,
      );
    }
    if (fault?.kind === 'slow-headers') await sleep(fault.ms);
    if (fault?.kind === 'garbage') {
      const bytes = randomBytes(2048);
      response.writeHead(200, { 'content-type': 'application/zip', 'content-length': String(bytes.length) });
      response.end(bytes);
      return;
    }

    if (last - first + 1 > this.maxHours) return plain(response, this.tooLargeStatus, 'Range too large');
    for (let hour = first; hour <= last; hour++) {
      if (this.hugeHours.has(hour)) return plain(response, this.tooLargeStatus, 'Range too large');
    }
    const zip = await this.zipFor(first, last);
    if (!zip) return plain(response, 404, 'No data');

    if (fault?.kind === 'cut-zip') {
      const cut = zip.subarray(0, fault.keepBytes);
      response.writeHead(200, { 'content-type': 'application/zip', 'content-length': String(cut.length) });
      response.end(cut);
      return;
    }
    response.writeHead(200, { 'content-type': 'application/zip', 'content-length': String(zip.length) });
    if (fault?.kind === 'truncate') {
      response.write(zip.subarray(0, fault.afterBytes));
      await sleep(20);
      response.socket?.destroy();
      return;
    }
    if (fault?.kind === 'stall') {
      response.write(zip.subarray(0, fault.afterBytes));
      await sleep(fault.ms);
      if (!response.destroyed) response.end(zip.subarray(fault.afterBytes));
      return;
    }
    response.end(zip);
  }
}

function plain(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'content-type': 'text/plain' });
  response.end(text);
}

function parseApiHour(text: string): number | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})$/.exec(text);
  if (!match) return undefined;
  return Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]), Number(match[4])) / HOUR_MS;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Hour index of `YYYY-MM-DDTHH`. */
export function hourIndex(text: string): number {
  return Date.parse(`${text}:00:00Z`) / HOUR_MS;
}
