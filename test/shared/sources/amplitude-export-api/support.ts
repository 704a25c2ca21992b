import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import {
  ExportApiClient,
  type ExportApiClientOptions,
  type RetryEvent,
} from '#shared/sources/amplitude-export-api/client.ts';
import { ExportApiCredentials } from '#shared/sources/amplitude-export-api/credentials.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import { FakeExportApi } from './fake-export-api.ts';

export const API_KEY = 'k3y-7f9d2c41e0b8a6';
export const SECRET_KEY = 's3cr3t-0c5e8b7a91d24f';
export const PROJECT_ID = '187520';

/** Every form a credential could leak in. */
export const SECRETS = [
  API_KEY,
  SECRET_KEY,
  Buffer.from(`${API_KEY}:${SECRET_KEY}`).toString('base64'),
] as const;

/** A fake API, a temp folder with a landing store, a temp dir for answers, and a client with a recorded sleep. */
export class Harness {
  api!: FakeExportApi;
  root!: string;
  landing!: FileSystemObjectStore;
  landingDir!: string;
  tempDir!: string;
  readonly sleeps: number[] = [];
  readonly retries: RetryEvent[] = [];

  async setUp(): Promise<this> {
    this.api = await new FakeExportApi({
      apiKey: API_KEY,
      secretKey: SECRET_KEY,
      projectId: PROJECT_ID,
    }).start();
    this.root = await mkdtemp(join(tmpdir(), 'export-api-'));
    this.landingDir = join(this.root, 'landing');
    this.tempDir = join(this.root, 'tmp');
    await mkdir(this.tempDir, { recursive: true });
    this.landing = new FileSystemObjectStore(this.landingDir);
    return this;
  }

  async tearDown(): Promise<void> {
    await this.api?.stop();
    if (this.root) await rm(this.root, { recursive: true, force: true });
  }

  client(options: Partial<ExportApiClientOptions> = {}): ExportApiClient {
    return new ExportApiClient({
      credentials: new ExportApiCredentials(API_KEY, SECRET_KEY),
      baseUrl: this.api.url,
      tempDir: this.tempDir,
      sleep: async (ms) => {
        this.sleeps.push(ms);
      },
      random: () => 0.5,
      onRetry: (event) => this.retries.push(event),
      ...options,
    });
  }

  /** Every landing object (key -> bytes). */
  async landingFiles(): Promise<Map<string, Buffer>> {
    const files = new Map<string, Buffer>();
    for await (const object of this.landing.list(''))
      files.set(object.key, await this.landing.getBytes(object.key));
    return files;
  }

  /** What the temp dir holds: every answer's folder must be gone after use. */
  async tempEntries(): Promise<string[]> {
    return readdir(this.tempDir);
  }
}

/** `value` in every printable form (message, stack, JSON, inspect), to search for secrets. */
export function everyFormOf(value: unknown): string {
  const parts: string[] = [inspect(value, { depth: 8, showHidden: true })];
  try {
    parts.push(JSON.stringify(value));
  } catch {
    // Circular structures are covered by inspect.
  }
  for (let current = value, depth = 0; current instanceof Error && depth < 6; depth++) {
    parts.push(current.message, current.stack ?? '');
    current = current.cause;
  }
  return parts.join('\n');
}

export function expectNoSecrets(text: string): string[] {
  return SECRETS.filter((secret) => text.includes(secret));
}
