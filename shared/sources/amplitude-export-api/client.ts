import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { apiHour, describeRange, type HourRange, hoursIn } from '../../base/hours.ts';
import { ConfigError } from '../../config/validate.ts';
import { type Archive, InvalidArchiveError, openArchive } from './archive.ts';
import type { CredentialsProvider, ExportApiCredentials } from './credentials.ts';
import { ExportApiError } from './errors.ts';
import { classifyEntry } from './names.ts';

/** Amplitude's REST hosts by data residency (Export API docs, "Regions"). */
export const EXPORT_API_BASE_URLS = {
  us: 'https://amplitude.com',
  eu: 'https://analytics.eu.amplitude.com',
} as const;

export type ExportApiRegion = keyof typeof EXPORT_API_BASE_URLS;

export const EXPORT_API_PATH = '/api/2/export';

/** The part of `fetch` the client uses, so tests and other HTTP stacks can stand in. */
export type FetchLike = (
  url: string,
  init: {
    readonly method: 'GET';
    readonly headers: Record<string, string>;
    readonly signal: AbortSignal;
    readonly redirect: 'follow';
  },
) => Promise<Response>;

/** Told before each retry; carries no credentials. */
export interface RetryEvent {
  readonly startHour: string;
  readonly endHour: string;
  /** The attempt that failed (1 for the first). */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly delayMs: number;
  readonly reason: string;
  readonly status?: number;
}

export interface ExportApiClientOptions {
  /** The project's keys, or a function that gives them (e.g. from Secrets Manager). */
  readonly credentials: ExportApiCredentials | CredentialsProvider;
  /** @default 'us' */
  readonly region?: ExportApiRegion;
  /**
   * Scheme and host of the API, e.g. `https://amplitude.com`; the client adds `/api/2/export`.
   * Plain http is accepted for loopback addresses only (tests, local stand-ins).
   * @default - the region's host
   */
  readonly baseUrl?: string;
  /** @default globalThis.fetch */
  readonly fetch?: FetchLike;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Jitter source in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** Reads Retry-After dates against this clock. @default Date.now */
  readonly now?: () => number;
  /** Tries per request, the first included. @default 5 */
  readonly maxAttempts?: number;
  /** First backoff; doubles per attempt, with jitter. @default 2000 */
  readonly baseDelayMs?: number;
  /** Longest backoff between attempts. @default 120000 */
  readonly maxDelayMs?: number;
  /** Longest Retry-After honoured; longer ones wait this long. @default 600000 */
  readonly maxRetryAfterMs?: number;
  /** Connecting plus waiting for the response headers (Amplitude builds the zip first). @default 300000 */
  readonly responseTimeoutMs?: number;
  /** Longest pause between two pieces of the response body. @default 60000 */
  readonly idleTimeoutMs?: number;
  /** Where responses are stored while they are checked (Lambda: /tmp). @default os.tmpdir() */
  readonly tempDir?: string;
  readonly onRetry?: (event: RetryEvent) => void;
}

/** What one range asked of the API came to. */
export type ExportAnswer =
  | {
      readonly kind: 'archive';
      readonly archive: Archive;
      /** Bytes of the response (the zip). */
      readonly bytes: number;
      /** Closes the archive and deletes the temp file. */
      dispose(): Promise<void>;
    }
  /** 404: no data in the range. */
  | { readonly kind: 'empty' }
  /** 400 (over 4 GB) or 504 (range too large to build in time): ask for fewer hours. */
  | { readonly kind: 'too-large'; readonly status: number; readonly detail: string };

/** The port `pullHours` uses; `ExportApiClient` is the HTTP implementation. */
export interface ExportApi {
  fetchRange(range: HourRange): Promise<ExportAnswer>;
}

type Attempt =
  | ExportAnswer
  | {
      readonly kind: 'retry';
      readonly reason: string;
      readonly status?: number;
      readonly retryAfterMs?: number;
      /** Set when the request never reached Amplitude: the name did not resolve, or no connection. */
      readonly unreachable?: string;
    };

/** Error codes of a request that never reached the server (Node's DNS and socket errors). */
const UNREACHABLE_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH']);

function unreachableCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 4; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (code && UNREACHABLE_CODES.has(code)) return code;
    current = current.cause;
  }
  return undefined;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const SNIPPET_BYTES = 1024;

/** The Export API over HTTPS: streams each answer to a temp file and checks it whole. */
export class ExportApiClient implements ExportApi {
  readonly baseUrl: string;
  readonly #credentials: CredentialsProvider;
  readonly #fetch: FetchLike;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxRetryAfterMs: number;
  readonly #responseTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #tempDir: string;
  readonly #onRetry: (event: RetryEvent) => void;

  constructor(options: ExportApiClientOptions) {
    const credentials = options.credentials;
    this.#credentials = typeof credentials === 'function' ? credentials : async () => credentials;
    this.baseUrl = checkBaseUrl(options.baseUrl ?? EXPORT_API_BASE_URLS[options.region ?? 'us']);
    this.#fetch = options.fetch ?? ((url, init) => fetch(url, init));
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    this.#maxAttempts = positive(options.maxAttempts ?? 5, 'maxAttempts');
    this.#baseDelayMs = options.baseDelayMs ?? 2000;
    this.#maxDelayMs = options.maxDelayMs ?? 120_000;
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 600_000;
    this.#responseTimeoutMs = positive(options.responseTimeoutMs ?? 300_000, 'responseTimeoutMs');
    this.#idleTimeoutMs = positive(options.idleTimeoutMs ?? 60_000, 'idleTimeoutMs');
    this.#tempDir = options.tempDir ?? tmpdir();
    this.#onRetry = options.onRetry ?? (() => undefined);
  }

  /** For logs: where requests go, never the credentials. */
  toJSON(): Record<string, unknown> {
    return { baseUrl: this.baseUrl, maxAttempts: this.#maxAttempts, tempDir: this.#tempDir };
  }

  async fetchRange(range: HourRange): Promise<ExportAnswer> {
    const dir = await this.#makeTempDir(range);
    const file = join(dir, 'export.zip');
    let handedOver = false;
    try {
      for (let attempt = 1; ; attempt++) {
        const result = await this.#attempt(range, file);
        if (result.kind === 'archive') {
          handedOver = true;
          return {
            ...result,
            dispose: async () => {
              result.archive.close();
              await rm(dir, { recursive: true, force: true });
            },
          };
        }
        if (result.kind !== 'retry') return result;
        if (attempt >= this.#maxAttempts) {
          if (result.status === 504) {
            return { kind: 'too-large', status: 504, detail: `${result.reason}, ${attempt} times` };
          }
          // A name that does not resolve or a refused connection is this machine's network,
          // not Amplitude: say so rather than point at Amplitude's status page.
          const advice = result.unreachable
            ? `${new URL(this.baseUrl).host} could not be reached from this machine (${result.unreachable}): check its network, DNS and proxy settings`
            : 'Check https://status.amplitude.com';
          throw new ExportApiError(
            'unavailable',
            range,
            `gave up after ${attempt} attempts; the last one failed with: ${result.reason}. ` +
              `${advice}; the pull can simply be run again (it replaces what it wrote).`,
            result.status,
          );
        }
        const delayMs = this.#delayBefore(attempt + 1, result.retryAfterMs);
        this.#onRetry({
          startHour: describeRange({ first: range.first, last: range.first }),
          endHour: describeRange({ first: range.last, last: range.last }),
          attempt,
          maxAttempts: this.#maxAttempts,
          delayMs,
          reason: result.reason,
          ...(result.status === undefined ? {} : { status: result.status }),
        });
        await this.#sleep(delayMs);
      }
    } finally {
      if (!handedOver) await rm(dir, { recursive: true, force: true });
    }
  }

  async #attempt(range: HourRange, file: string): Promise<Attempt> {
    const credentials = await this.#credentials();
    const url = `${this.baseUrl}${EXPORT_API_PATH}?start=${apiHour(range.first)}&end=${apiHour(range.last)}`;
    const controller = new AbortController();
    const timeout = (what: string, ms: number) =>
      setTimeout(() => controller.abort(new Error(`${what} within ${formatMs(ms)}`)), ms);
    let timer = timeout('no response', this.#responseTimeoutMs);
    try {
      let response: Response;
      try {
        response = await this.#fetch(url, {
          method: 'GET',
          headers: {
            authorization: credentials.authorization(),
            'user-agent': 'amplitude-redshift-export',
          },
          signal: controller.signal,
          redirect: 'follow',
        });
      } catch (error) {
        const unreachable = unreachableCode(error);
        return {
          kind: 'retry',
          reason: describeFailure(error, controller.signal, credentials),
          ...(unreachable ? { unreachable } : {}),
        };
      }
      clearTimeout(timer);
      const status = response.status;

      if (status === 200) {
        timer = timeout('no data', this.#idleTimeoutMs);
        return await this.#receive(range, response, file, controller.signal, timer, credentials);
      }
      timer = timeout('no error body', this.#idleTimeoutMs);
      const detail = await snippet(response, credentials);
      if (status === 404) return { kind: 'empty' };
      if (status === 400) {
        return { kind: 'too-large', status, detail: `400 Bad Request${detail}` };
      }
      if (status === 504 && hoursIn(range) > 1) {
        return { kind: 'too-large', status, detail: `504 Gateway Timeout${detail}` };
      }
      if (status === 429 || status >= 500) {
        const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), this.#now());
        return {
          kind: 'retry',
          reason: `HTTP ${status}${detail}`,
          status,
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        };
      }
      if (status === 401 || status === 403) {
        throw new ExportApiError(
          'rejected',
          range,
          `Amplitude refused the credentials (HTTP ${status}${detail}). Check that the secret holds the API key and secret key of this project (Settings > Projects > <project> > General) and that the region (us or eu) matches the project's data residency.`,
          status,
        );
      }
      throw new ExportApiError(
        'rejected',
        range,
        `unexpected answer HTTP ${status}${detail}; expected 200 (a zip), 404 (no data), 400/504 (range too large) or 429/5xx (try again). Check the base URL (${this.baseUrl}).`,
        status,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** Streams a 200 answer to `file`, then checks the zip whole. */
  async #receive(
    range: HourRange,
    response: Response,
    file: string,
    signal: AbortSignal,
    idleTimer: NodeJS.Timeout,
    credentials: ExportApiCredentials,
  ): Promise<Attempt> {
    if (!response.body) return { kind: 'retry', reason: 'HTTP 200 without a body' };
    let bytes = 0;
    const watch = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        idleTimer.refresh();
        done(null, chunk);
      },
    });
    const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
    const sink = createWriteStream(file);
    let sinkFailed: NodeJS.ErrnoException | undefined;
    sink.once('error', (error) => {
      sinkFailed = error;
    });
    // Since Node 22, pipeline() destroys the file stream with the body's own error when the
    // connection fails, so the file stream reports it too: only an error of its own is local.
    let sourceFailed: Error | undefined;
    body.once('error', (error) => {
      sourceFailed = error;
    });
    try {
      await pipeline(body, watch, sink);
    } catch (error) {
      if (sinkFailed && sinkFailed !== sourceFailed) {
        throw new ExportApiError(
          'local',
          range,
          `could not store the response in ${this.#tempDir} after ${bytes} bytes (${sinkFailed.code ?? sinkFailed.message}). ` +
            'Give the function more ephemeral storage (/tmp) or ask for fewer hours per request.',
          200,
          { cause: sinkFailed },
        );
      }
      return {
        kind: 'retry',
        reason: `the response was cut short after ${bytes} bytes (${describeFailure(error, signal, credentials)})`,
      };
    }
    clearTimeout(idleTimer);
    const declared = response.headers.get('content-length');
    if (declared !== null && !response.headers.get('content-encoding') && Number(declared) !== bytes) {
      return {
        kind: 'retry',
        reason: `the response has ${bytes} bytes, its Content-Length says ${declared}`,
      };
    }
    try {
      const archive = await openArchive(file, (path) => classifyEntry(path).kind !== 'skip');
      return { kind: 'archive', archive, bytes, dispose: async () => undefined };
    } catch (error) {
      if (error instanceof InvalidArchiveError) {
        return { kind: 'retry', reason: `the response of ${bytes} bytes is damaged: ${error.message}` };
      }
      throw error;
    }
  }

  /** Exponential backoff with equal jitter, never shorter than a Retry-After (up to its cap). */
  #delayBefore(attempt: number, retryAfterMs: number | undefined): number {
    const exponential = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 2));
    const jittered = Math.round(exponential / 2 + (this.#random() * exponential) / 2);
    if (retryAfterMs === undefined) return jittered;
    return Math.max(jittered, Math.min(retryAfterMs, this.#maxRetryAfterMs));
  }

  async #makeTempDir(range: HourRange): Promise<string> {
    try {
      return await mkdtemp(join(this.#tempDir, 'amplitude-export-'));
    } catch (error) {
      throw new ExportApiError(
        'local',
        range,
        `cannot create a temp folder in ${this.#tempDir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); pass a writable tempDir.`,
        undefined,
        { cause: error },
      );
    }
  }
}

function checkBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      `The Export API base URL ${JSON.stringify(raw)} is not a URL; expected e.g. ${EXPORT_API_BASE_URLS.us}.`,
    );
  }
  const loopback = LOOPBACK.has(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new ConfigError(
      `The Export API base URL must use https (the credentials travel in its requests), got ${JSON.stringify(raw)}. Plain http is allowed for 127.0.0.1 / localhost only.`,
    );
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError(
      `The Export API base URL must be only scheme, host and optional path, without credentials or query; got ${url.protocol}//${url.host}${url.pathname}.`,
    );
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new ConfigError(`${name} must be a positive whole number, got ${value}.`);
  return value;
}

/** Seconds (`120`) or an HTTP date; `undefined` when absent or unreadable. */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/** The first bytes of an error body, one line, credentials removed: `: <text>` or ''. */
async function snippet(response: Response, credentials: ExportApiCredentials): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    while (length < SNIPPET_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      length += value.length;
    }
  } catch {
    // A body that breaks off is no reason to lose the status.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const text = credentials
    .redact(Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString('utf8'))
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
  return text ? `: ${text}` : '';
}

function describeFailure(error: unknown, signal: AbortSignal, credentials: ExportApiCredentials): string {
  if (signal.aborted && signal.reason instanceof Error) return signal.reason.message;
  const parts: string[] = [];
  for (let current = error, depth = 0; current instanceof Error && depth < 4; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    parts.push(code ? `${current.message} [${code}]` : current.message);
    current = current.cause;
  }
  return credentials.redact(parts.join(': ') || String(error));
}
