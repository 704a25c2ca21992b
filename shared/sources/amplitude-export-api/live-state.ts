import { PREFIXES } from '../../base/staging-keys.ts';
import {
  ObjectNotFoundError,
  type ObjectStore,
  PreconditionFailedError,
} from '../../storage/object-store.ts';

/** What the live pull remembers between runs, in the staging store. */
export interface LivePullState {
  readonly version: 1;
  readonly projectId: string;
  /** First hour the live pull is responsible for (`YYYY-MM-DDTHH`); older hours are backfill's. */
  readonly since: string;
  readonly updatedAt: string;
  /** Hours pulled completely, within the look-back window. */
  readonly pulled: Readonly<Record<string, { readonly at: string; readonly files: number }>>;
  /** Due hours not pulled yet: failed, or not reached within a run's time budget. */
  readonly gaps: Readonly<Record<string, LiveGap>>;
}

export interface LiveGap {
  /** Requests that failed for this hour. */
  readonly attempts: number;
  readonly lastError?: string;
}

/** `state/export-api/<projectId>.json` */
export function liveStateKey(projectId: string): string {
  return `${PREFIXES.state}export-api/${projectId}.json`;
}

export interface StoredState {
  readonly state: LivePullState;
  /** `undefined` when there was no record yet. */
  readonly etag: string | undefined;
}

export async function readLiveState(store: ObjectStore, projectId: string): Promise<StoredState | undefined> {
  const key = liveStateKey(projectId);
  // Etag before content: a write conditioned on it fails if the content changed in between.
  const head = await store.head(key);
  if (!head) return undefined;
  let bytes: Buffer;
  try {
    bytes = await store.getBytes(key);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return undefined;
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw unreadable(store, key, 'it is not JSON');
  }
  const state = value as Partial<LivePullState>;
  if (
    state?.version !== 1 ||
    state.projectId !== projectId ||
    typeof state.since !== 'string' ||
    typeof state.pulled !== 'object' ||
    typeof state.gaps !== 'object'
  ) {
    throw unreadable(store, key, `expected {version: 1, projectId: "${projectId}", since, pulled, gaps}`);
  }
  return { state: state as LivePullState, etag: head.etag };
}

/** Writes the record only over the version that was read (or only if none exists). */
export async function writeLiveState(store: ObjectStore, stored: StoredState): Promise<void> {
  const key = liveStateKey(stored.state.projectId);
  try {
    await store.put(key, `${JSON.stringify(stored.state, null, 1)}\n`, {
      contentType: 'application/json',
      ...(stored.etag === undefined ? { ifNoneMatch: '*' as const } : { ifMatch: stored.etag }),
    });
  } catch (error) {
    if (!(error instanceof PreconditionFailedError)) throw error;
    throw new Error(
      `${store.url(key)} changed while this run held the export-api-pull lease: another run wrote it. ` +
        'Nothing is lost (the next run pulls any hour not recorded); check that only one schedule invokes the function.',
      { cause: error },
    );
  }
}

function unreadable(store: ObjectStore, key: string, why: string): Error {
  return new Error(
    `The live pull's state ${store.url(key)} cannot be read: ${why}. Delete it to start again from the look-back window (hours already in landing are replaced, not duplicated).`,
  );
}
