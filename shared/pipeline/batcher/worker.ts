import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createSliceProcessor, type SliceRequest } from './slices.ts';

/** Set in `workerData` by the pool: only a thread started with it serves slices. */
export const WORKER_MARKER = 'amplitude-redshift-export/batcher-worker';

export type WorkerReply =
  | { readonly ready: true }
  | { readonly id: number; readonly result: ReturnType<ReturnType<typeof createSliceProcessor>> }
  | { readonly id: number; readonly error: { readonly name: string; readonly message: string } };

/**
 * Worker side of the pool. This module is also part of a one-file bundle (the Lambda), where
 * the pool starts the bundle itself as the worker: the check below makes only such a thread
 * answer, and makes importing the module anywhere else do nothing.
 */
function serve(): void {
  const port = parentPort!;
  const process = createSliceProcessor();
  port.on('message', (message: { id: number; request: SliceRequest }) => {
    let reply: WorkerReply;
    try {
      const result = process(message.request);
      port.postMessage({ id: message.id, result } satisfies WorkerReply, [
        result.rowEnds.buffer as ArrayBuffer,
      ]);
      return;
    } catch (error) {
      const { name, message: text } = error instanceof Error ? error : new Error(String(error));
      reply = { id: message.id, error: { name, message: text } };
    }
    port.postMessage(reply);
  });
  port.postMessage({ ready: true } satisfies WorkerReply);
}

if (
  !isMainThread &&
  parentPort &&
  (workerData as Record<string, unknown> | undefined)?.[WORKER_MARKER] === true
) {
  serve();
}
