import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { createSliceProcessor, type SliceRequest, type SliceResult } from './slices.ts';
import { WORKER_MARKER, type WorkerReply } from './worker.ts';

/** Turns slices into CSV rows, here or on worker threads; results come back per request. */
export interface SliceRunner {
  /** Worker threads doing the work; 0 when it runs on the calling thread. */
  readonly threads: number;
  submit(request: SliceRequest): Promise<SliceResult>;
}

/** Transform threads worth starting here: one per core beyond the first, at least one, at most 4. */
export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

export function inThreadRunner(): SliceRunner {
  const process = createSliceProcessor();
  return { threads: 0, submit: async (request) => process(request) };
}

const STARTUP_TIMEOUT_MS = 60_000;

interface Pending {
  resolve(result: SliceResult): void;
  reject(error: Error): void;
}

/**
 * Slices queued per worker thread before the calling thread works on one itself. With 2 the
 * worker sat idle between results while the calling thread was busy transforming (200k events:
 * ~5.0 s); 4-6 keeps it fed (~4.1-4.4 s) for ~30 MB more peak RSS; above 8 it gets slower again.
 * Measured with `npm run bench -- batcher` on 2 cores.
 */
const QUEUED_PER_THREAD = 5;

class WorkerSliceRunner implements SliceRunner {
  private nextId = 1;
  private readonly local = createSliceProcessor();
  private readonly pending = new Map<Worker, Map<number, Pending>>();
  broken = false;

  constructor(private readonly workers: Worker[]) {
    for (const worker of workers) {
      this.pending.set(worker, new Map());
      worker.on('message', (reply: WorkerReply) => this.receive(worker, reply));
      worker.on('error', (error) => this.fail(worker, error));
      worker.on('exit', (code) =>
        this.fail(worker, new Error(`batcher worker thread exited with code ${code}`)),
      );
      worker.unref();
    }
  }

  get threads(): number {
    return this.workers.length;
  }

  submit(request: SliceRequest): Promise<SliceResult> {
    if (this.broken)
      return Promise.reject(new Error('The batcher worker threads stopped; the run must be retried.'));
    // The least busy thread; ties go to the first, so work spreads evenly under steady load.
    let worker = this.workers[0]!;
    for (const candidate of this.workers) {
      if (this.pending.get(candidate)!.size < this.pending.get(worker)!.size) worker = candidate;
    }
    // Every thread has work queued: the calling thread takes this slice itself rather than
    // wait idle for a result (otherwise it only reads, de-duplicates and writes).
    if (this.pending.get(worker)!.size >= QUEUED_PER_THREAD) {
      try {
        return Promise.resolve(this.local(request));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const id = this.nextId++;
    const queue = this.pending.get(worker)!;
    // The bytes are moved, not copied; a view into a shared buffer (Node's small-Buffer
    // pool) must not take that buffer with it.
    const { bytes } = request;
    if (bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength) {
      request = { ...request, bytes: new Uint8Array(bytes) };
    }
    return new Promise<SliceResult>((resolve, reject) => {
      queue.set(id, { resolve, reject });
      // A thread with work keeps the process alive; an idle one must not.
      if (queue.size === 1) worker.ref();
      worker.postMessage({ id, request }, [request.bytes.buffer as ArrayBuffer]);
    });
  }

  private receive(worker: Worker, reply: WorkerReply): void {
    if ('ready' in reply) return;
    const queue = this.pending.get(worker)!;
    const waiting = queue.get(reply.id);
    if (!waiting) return;
    queue.delete(reply.id);
    if (queue.size === 0) worker.unref();
    if ('result' in reply) waiting.resolve(reply.result);
    else waiting.reject(Object.assign(new Error(reply.error.message), { name: reply.error.name }));
  }

  private fail(worker: Worker, error: Error): void {
    this.broken = true;
    const queue = this.pending.get(worker)!;
    for (const waiting of queue.values()) waiting.reject(error);
    queue.clear();
    for (const other of this.workers) void other.terminate();
  }
}

/**
 * How a worker thread starts. In a one-file bundle (the Lambda) every module is in the
 * bundle, so the bundle itself is started and only the worker module's check acts on the
 * marker. From TypeScript source (tsx, vitest, the CLI) the thread first registers tsx's
 * loader (`--import` in a worker's execArgv does not apply loaders on Node 20) and then
 * imports the worker module.
 */
function workerSource(): { source: string | URL; eval: boolean; data: Record<string, unknown> } | undefined {
  const here = import.meta.url as string | undefined;
  if (typeof here !== 'string' || here === '') return undefined;
  if (!here.endsWith('.ts')) return { source: new URL(here), eval: false, data: {} };
  const require = createRequire(here);
  const manifest = require.resolve('tsx/package.json');
  const exported = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, unknown> })
    .exports['./esm/api'] as { import?: { default?: string } } | undefined;
  const api = exported?.import?.default;
  if (!api) return undefined;
  return {
    source: [
      "const { workerData } = require('node:worker_threads');",
      'import(workerData.tsxApi).then((tsx) => { tsx.register(); return import(workerData.entry); });',
    ].join('\n'),
    eval: true,
    data: {
      tsxApi: new URL(api, pathToFileURL(manifest)).href,
      entry: new URL('./worker.ts', here).href,
    },
  };
}

async function startWorkers(count: number): Promise<WorkerSliceRunner | undefined> {
  const start = workerSource();
  if (!start) return undefined;
  const workers: Worker[] = [];
  try {
    for (let i = 0; i < count; i++) {
      workers.push(
        new Worker(start.source, { eval: start.eval, workerData: { ...start.data, [WORKER_MARKER]: true } }),
      );
    }
    await Promise.all(workers.map(ready));
    return new WorkerSliceRunner(workers);
  } catch {
    await Promise.all(workers.map((worker) => worker.terminate()));
    return undefined;
  }
}

function ready(worker: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('batcher worker did not start in time')),
      STARTUP_TIMEOUT_MS,
    );
    const done = (error?: Error) => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', done);
      worker.off('exit', onExit);
      if (error) reject(error);
      else resolve();
    };
    const onMessage = (reply: WorkerReply) => {
      if ('ready' in reply) done();
    };
    const onExit = (code: number) =>
      done(new Error(`batcher worker exited with code ${code} while starting`));
    worker.on('message', onMessage);
    worker.on('error', done);
    worker.on('exit', onExit);
  });
}

/** Started pools by thread count; idle threads are unref'd, so they never keep the process alive. */
const pools = new Map<number, Promise<WorkerSliceRunner | undefined>>();

/**
 * A runner with `workers` threads, kept for the life of the process (a warm Lambda reuses it),
 * or the calling thread when `workers` is 0 or threads cannot start here.
 */
export async function sliceRunner(workers: number): Promise<SliceRunner> {
  if (!Number.isSafeInteger(workers) || workers <= 0) return inThreadRunner();
  let started = pools.get(workers);
  if (started) {
    const current = await started;
    // Threads that could not start here will not start on a second try either.
    if (!current) return inThreadRunner();
    if (!current.broken) return current;
  }
  // None yet, or its threads died (the batch that saw it failed): start afresh.
  started = startWorkers(workers);
  pools.set(workers, started);
  return (await started) ?? inThreadRunner();
}
