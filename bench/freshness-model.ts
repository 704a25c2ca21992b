/**
 * A discrete-event model of how long a landed file waits until its rows are committed, given
 * the batcher's and the loader's schedules and run times. Used by `./freshness.ts`; it models
 * what the code does:
 * - EventBridge starts the batcher every `batchEveryMs`. Each function reserves one concurrent
 *   execution, so a start while a run is still going is throttled, and Lambda retries the
 *   asynchronous event until it gets in: modelled as one queued start that begins as soon as
 *   the run ends. A run batches every file that landed before it listed; its manifests are
 *   visible when it ends.
 * - EventBridge starts the loader every `loadEveryMs`, same rule; a run loads every manifest
 *   visible when it lists, and commits when it ends.
 * - With `trigger`, a batcher run that staged batches also starts the loader when it ends (an
 *   asynchronous invoke), queued like a scheduled start when a load is running.
 */

export interface FreshnessScenario {
  readonly batchEveryMs: number;
  readonly loadEveryMs: number;
  readonly trigger: boolean;
  /** Events landing per second, spread evenly over the files. */
  readonly eventsPerSecond: number;
  /** Landing files per hour, each at a uniformly random time. */
  readonly filesPerHour: number;
  /** A batcher run's duration for this many events. */
  readonly batcherMs: (events: number) => number;
  /** A loader run's duration for this many rows. */
  readonly loaderMs: (rows: number) => number;
  /** Simulated time. */
  readonly hours: number;
  readonly seed: number;
}

export interface FreshnessResult {
  /** Landing-to-commit delay of every file committed within the simulated time, ms, sorted. */
  readonly delaysMs: readonly number[];
  readonly batcherRuns: number;
  readonly loaderRuns: number;
}

type Kind = 'batch-tick' | 'batch-end' | 'load-start' | 'load-end';

interface SimEvent {
  readonly at: number;
  readonly kind: Kind;
  /** batch-end: the files of the run. load-end: the files committed. */
  readonly files?: readonly number[];
}

export function simulateFreshness(scenario: FreshnessScenario): FreshnessResult {
  const horizon = scenario.hours * 3_600_000;
  const random = mulberry32(scenario.seed);
  const fileCount = Math.round(scenario.filesPerHour * scenario.hours);
  const landed = Array.from({ length: fileCount }, () => random() * horizon).sort((a, b) => a - b);
  const eventsPerFile = (scenario.eventsPerSecond * 3600) / scenario.filesPerHour;

  const queue: SimEvent[] = [];
  const push = (event: SimEvent) => {
    // Few thousand events: a sorted insert is plenty.
    let index = queue.length;
    while (index > 0 && queue[index - 1]!.at > event.at) index--;
    queue.splice(index, 0, event);
  };
  // The two schedules start at independent random phases.
  for (let at = random() * scenario.batchEveryMs; at < horizon; at += scenario.batchEveryMs)
    push({ at, kind: 'batch-tick' });
  for (let at = random() * scenario.loadEveryMs; at < horizon; at += scenario.loadEveryMs)
    push({ at, kind: 'load-start' });

  let nextUnbatched = 0;
  const visible: number[] = [];
  let batcherBusy = false;
  let loaderBusy = false;
  let batcherQueued = false;
  let loaderQueued = false;
  let batcherRuns = 0;
  let loaderRuns = 0;
  const delays: number[] = [];

  const startLoad = (at: number) => {
    loaderBusy = true;
    loaderRuns++;
    const files = visible.splice(0);
    push({ at: at + scenario.loaderMs(files.length * eventsPerFile), kind: 'load-end', files });
  };

  while (queue.length > 0) {
    const event = queue.shift()!;
    if (event.at > horizon) break;
    switch (event.kind) {
      case 'batch-tick': {
        if (batcherBusy) {
          batcherQueued = true;
          break;
        }
        batcherBusy = true;
        batcherRuns++;
        const files: number[] = [];
        while (nextUnbatched < landed.length && landed[nextUnbatched]! <= event.at)
          files.push(nextUnbatched++);
        push({ at: event.at + scenario.batcherMs(files.length * eventsPerFile), kind: 'batch-end', files });
        break;
      }
      case 'batch-end': {
        batcherBusy = false;
        visible.push(...event.files!);
        if (scenario.trigger && event.files!.length > 0) {
          if (loaderBusy) loaderQueued = true;
          else startLoad(event.at);
        }
        if (batcherQueued) {
          batcherQueued = false;
          push({ at: event.at, kind: 'batch-tick' });
        }
        break;
      }
      case 'load-start': {
        if (loaderBusy) loaderQueued = true;
        else startLoad(event.at);
        break;
      }
      case 'load-end': {
        loaderBusy = false;
        for (const file of event.files!) delays.push(event.at - landed[file]!);
        if (loaderQueued) {
          loaderQueued = false;
          startLoad(event.at);
        }
        break;
      }
    }
  }
  return { delaysMs: delays.sort((a, b) => a - b), batcherRuns, loaderRuns };
}

/** The q-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new Error('quantile of no values');
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** A small seeded generator, so every run of the benchmark models the same landings. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
