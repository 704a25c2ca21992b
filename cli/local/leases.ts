import { hostname } from 'node:os';
import { BATCHER_LEASE } from '#shared/pipeline/batcher/batcher.ts';
import { LOADER_LEASE } from '#shared/pipeline/loader/run.ts';
import type { LeaseHolderCheck, LeaseSkip } from '#shared/storage/lease.ts';
import { releaseLeaseOf } from '#shared/storage/lease.ts';
import type { ObjectStore } from '#shared/storage/object-store.ts';
import { alive } from './embedded-postgres.ts';

/**
 * The local runner's leases record this process; a lease whose process is gone from this
 * machine (Ctrl-C before the release, SIGKILL, a crash) is taken over at once instead of
 * blocking every run until it expires 15 minutes later.
 */
export const localLeaseHolder: LeaseHolderCheck = {
  self: { host: hostname(), pid: process.pid },
  isGone: (holder) => holder.host === hostname() && !alive(holder.pid),
};

/** Frees the leases this process holds (a signal stops it mid-run); returns their names. */
export async function releaseLocalLeases(store: ObjectStore): Promise<string[]> {
  const released: string[] = [];
  for (const name of [BATCHER_LEASE, LOADER_LEASE]) {
    if (await releaseLeaseOf(store, name, localLeaseHolder.self).catch(() => false)) released.push(name);
  }
  return released;
}

/** "batcher:<run> (process 123 on this machine) until <time>" */
export function describeHolder(skip: LeaseSkip): string {
  const where = skip.holder
    ? skip.holder.host === hostname()
      ? ` (process ${skip.holder.pid} on this machine)`
      : ` (process ${skip.holder.pid} on ${skip.holder.host})`
    : '';
  return `${skip.heldBy}${where} until ${skip.expiresAt}`;
}
