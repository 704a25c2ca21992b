import { randomUUID } from 'node:crypto';
import type { Clock } from '../base/clock.ts';
import { leaseKey } from '../base/staging-keys.ts';
import { ObjectNotFoundError, type ObjectStore, PreconditionFailedError } from './object-store.ts';

/**
 * "One run at a time" on any ObjectStore, built only on conditional writes: create-only to
 * take a free lease, `ifMatch` on the etag of an expired one to take it over, so of two
 * runs racing for it exactly one wins. Correctness of the data never rests on it (the
 * warehouse ledger does that); it keeps runs from doing the same work twice.
 */
export interface LeaseOptions {
  /** Who holds it, for people reading the lease file: e.g. `loader:<request id>`. */
  readonly owner: string;
  /** How long the lease holds without `renew()`: longer than the longest run (the Lambda timeout). */
  readonly ttlMs: number;
  readonly clock: Clock;
  /**
   * The process taking the lease, recorded in it, with how to tell that a recorded process is
   * gone. Only where that can be known (one machine: the local runner, by host and process
   * id) is a live lease of a dead holder taken over at once; without it (Lambda: an
   * invocation cannot see another) a lease is freed only by its expiry.
   */
  readonly holder?: LeaseHolderCheck;
}

/** The process that holds a lease. */
export interface LeaseHolder {
  readonly host: string;
  readonly pid: number;
}

export interface LeaseHolderCheck {
  readonly self: LeaseHolder;
  /** True only when `holder` is certainly not running any more. */
  readonly isGone: (holder: LeaseHolder) => boolean;
}

/** The lease file's content. */
export interface LeaseRecord {
  readonly owner: string;
  /** Unique per acquisition, so two acquisitions never write the same bytes (and etag). */
  readonly token: string;
  readonly acquiredAt: string;
  readonly expiresAt: string;
  readonly holder?: LeaseHolder;
}

export interface Lease {
  readonly name: string;
  readonly key: string;
  readonly owner: string;
  readonly acquiredAt: Date;
  /** Moves forward with every `renew()`. */
  readonly expiresAt: Date;
  /** Extends the lease by `ttlMs` from now. Throws `LeaseLostError` when another run took it over. */
  renew(): Promise<void>;
  /** Deletes the lease if it is still ours. `false` when another run had taken it over. */
  release(): Promise<boolean>;
}

/** Who holds a lease that could not be taken, and until when. */
export interface LeaseHeld {
  readonly acquired: false;
  readonly heldBy: string;
  readonly expiresAt: Date;
  /** The holding process, when it recorded itself. */
  readonly holder?: LeaseHolder;
}

/**
 * What a run that found the lease held reports instead of its work (batcher and loader alike):
 * who holds it, until when, and the holding process when it recorded itself.
 */
export interface LeaseSkip {
  readonly reason: 'lease-held';
  readonly heldBy: string;
  readonly expiresAt: string;
  readonly holder?: LeaseHolder;
}

export function leaseSkip(held: LeaseHeld): LeaseSkip {
  return {
    reason: 'lease-held',
    heldBy: held.heldBy,
    expiresAt: held.expiresAt.toISOString(),
    ...(held.holder ? { holder: held.holder } : {}),
  };
}

export type LeaseAttempt = { readonly acquired: true; readonly lease: Lease } | LeaseHeld;

export type WithLeaseResult<T> = { readonly acquired: true; readonly result: T } | LeaseHeld;

export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

const LEASE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
// Each round trip that loses a race means someone else changed the lease in between; a few
// rounds settle any real contention.
const MAX_ROUNDS = 5;

/** The lease, or `undefined` when another run holds a live one. */
export async function acquireLease(
  store: ObjectStore,
  name: string,
  options: LeaseOptions,
): Promise<Lease | undefined> {
  const attempt = await tryAcquireLease(store, name, options);
  return attempt.acquired ? attempt.lease : undefined;
}

/** Like `acquireLease`, but says who holds the lease when it is not free. */
export async function tryAcquireLease(
  store: ObjectStore,
  name: string,
  options: LeaseOptions,
): Promise<LeaseAttempt> {
  assertOptions(name, options);
  const key = leaseKey(name);
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const created = await writeNewLease(store, name, options, { ifNoneMatch: '*' });
    if (created) return { acquired: true, lease: created };

    const current = await readLease(store, name);
    if (!current) continue;
    const { record, etag } = current;
    const live = record !== undefined && Date.parse(record.expiresAt) > options.clock().getTime();
    const holderGone = record?.holder !== undefined && options.holder?.isGone(record.holder) === true;
    if (record && live && !holderGone) {
      return {
        acquired: false,
        heldBy: record.owner,
        expiresAt: new Date(record.expiresAt),
        ...(record.holder ? { holder: record.holder } : {}),
      };
    }
    // Expired, its holder gone, or not a lease record at all: take it over, but only the
    // version we looked at.
    const taken = await writeNewLease(store, name, options, { ifMatch: etag });
    if (taken) return { acquired: true, lease: taken };
  }
  throw new Error(
    `Could not take or read lease ${key} in ${MAX_ROUNDS} rounds: it changed every time. ` +
      'Something is writing it in a tight loop; check which processes use this lease name.',
  );
}

/** Runs `work` holding the lease, and always releases it afterwards. */
export async function withLease<T>(
  store: ObjectStore,
  name: string,
  options: LeaseOptions,
  work: (lease: Lease) => Promise<T>,
): Promise<WithLeaseResult<T>> {
  const attempt = await tryAcquireLease(store, name, options);
  if (!attempt.acquired) return attempt;
  let result: T;
  try {
    result = await work(attempt.lease);
  } catch (error) {
    // The work's failure is what the caller needs to see; an unreleased lease only expires.
    await attempt.lease.release().catch(() => undefined);
    throw error;
  }
  await attempt.lease.release();
  return { acquired: true, result };
}

/**
 * Deletes the lease when `holder` is the process recorded in it: for a process that stops on
 * a signal while its work, and the `Lease` objects with it, are still running. `false` when the
 * lease is free or another process holds it.
 */
export async function releaseLeaseOf(
  store: ObjectStore,
  name: string,
  holder: LeaseHolder,
): Promise<boolean> {
  const current = await readLease(store, name);
  if (current?.record?.holder?.host !== holder.host || current.record.holder.pid !== holder.pid) return false;
  try {
    await store.delete(leaseKey(name), { ifMatch: current.etag });
    return true;
  } catch (error) {
    if (error instanceof PreconditionFailedError || error instanceof ObjectNotFoundError) return false;
    throw error;
  }
}

/** The lease file as it is now; `record` is `undefined` when the file is not a lease record. */
export async function readLease(
  store: ObjectStore,
  name: string,
): Promise<{ readonly etag: string; readonly record: LeaseRecord | undefined } | undefined> {
  const key = leaseKey(name);
  // Etag first, content second: if the content is newer than the etag, a takeover conditioned
  // on that etag fails, so a decision is never made on content older than its etag.
  const head = await store.head(key);
  if (!head) return undefined;
  try {
    return { etag: head.etag, record: parseRecord(await store.getBytes(key)) };
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return undefined;
    throw error;
  }
}

async function writeNewLease(
  store: ObjectStore,
  name: string,
  options: LeaseOptions,
  condition: { ifNoneMatch: '*' } | { ifMatch: string },
): Promise<HeldLease | undefined> {
  const now = options.clock();
  const record: LeaseRecord = {
    owner: options.owner,
    token: randomUUID(),
    acquiredAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + options.ttlMs).toISOString(),
    ...(options.holder ? { holder: options.holder.self } : {}),
  };
  try {
    const { etag } = await store.put(leaseKey(name), JSON.stringify(record), {
      ...condition,
      contentType: 'application/json',
    });
    return new HeldLease(store, name, options, record, etag);
  } catch (error) {
    if (error instanceof PreconditionFailedError) return undefined;
    throw error;
  }
}

class HeldLease implements Lease {
  readonly key: string;
  readonly owner: string;
  readonly acquiredAt: Date;
  #record: LeaseRecord;
  #etag: string;
  #released = false;

  constructor(
    private readonly store: ObjectStore,
    readonly name: string,
    private readonly options: LeaseOptions,
    record: LeaseRecord,
    etag: string,
  ) {
    this.key = leaseKey(name);
    this.owner = record.owner;
    this.acquiredAt = new Date(record.acquiredAt);
    this.#record = record;
    this.#etag = etag;
  }

  get expiresAt(): Date {
    return new Date(this.#record.expiresAt);
  }

  async renew(): Promise<void> {
    if (this.#released) throw new Error(`Lease ${this.key} was already released; acquire it again instead.`);
    const record = {
      ...this.#record,
      expiresAt: new Date(this.options.clock().getTime() + this.options.ttlMs).toISOString(),
    };
    try {
      const { etag } = await this.store.put(this.key, JSON.stringify(record), {
        ifMatch: this.#etag,
        contentType: 'application/json',
      });
      this.#record = record;
      this.#etag = etag;
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error;
      throw new LeaseLostError(
        `Lease ${this.key} is no longer held by ${this.owner}: it expired at ${this.#record.expiresAt} and ` +
          'another run took it over, or it was deleted. Stop this run; if runs often outlive the lease, raise its ttlMs.',
      );
    }
  }

  async release(): Promise<boolean> {
    if (this.#released) return true;
    try {
      await this.store.delete(this.key, { ifMatch: this.#etag });
      this.#released = true;
      return true;
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error;
      this.#released = true;
      return false;
    }
  }
}

function parseRecord(bytes: Buffer): LeaseRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { owner, token, acquiredAt, expiresAt, holder } = value as Record<string, unknown>;
  if (typeof owner !== 'string' || typeof token !== 'string') return undefined;
  if (typeof acquiredAt !== 'string' || typeof expiresAt !== 'string') return undefined;
  if (!Number.isFinite(Date.parse(acquiredAt)) || !Number.isFinite(Date.parse(expiresAt))) return undefined;
  const { host, pid } = (typeof holder === 'object' && holder !== null ? holder : {}) as Record<
    string,
    unknown
  >;
  const recorded =
    typeof host === 'string' && Number.isInteger(pid) ? { host, pid: pid as number } : undefined;
  return { owner, token, acquiredAt, expiresAt, ...(recorded ? { holder: recorded } : {}) };
}

function assertOptions(name: string, options: LeaseOptions): void {
  if (!LEASE_NAME.test(name)) {
    throw new Error(
      `Invalid lease name ${JSON.stringify(name)}: expected letters, digits, "-" or "_" (${LEASE_NAME}).`,
    );
  }
  if (typeof options.owner !== 'string' || options.owner.trim() === '') {
    throw new Error(
      `Lease ${name} needs a non-empty owner (e.g. "loader:<request id>") to show who holds it.`,
    );
  }
  if (!Number.isFinite(options.ttlMs) || options.ttlMs <= 0) {
    throw new Error(`Lease ${name} needs a positive ttlMs, got ${options.ttlMs}.`);
  }
}
