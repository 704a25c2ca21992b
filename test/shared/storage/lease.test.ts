import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '#shared/base/clock.ts';
import { leaseKey } from '#shared/base/staging-keys.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import {
  acquireLease,
  LeaseLostError,
  type LeaseOptions,
  readLease,
  releaseLeaseOf,
  tryAcquireLease,
  withLease,
} from '#shared/storage/lease.ts';

const MINUTE = 60_000;
const T0 = new Date('2024-05-01T10:00:00.000Z');

let root: string;
let store: FileSystemObjectStore;
let now: Date;
const clock: Clock = () => now;
const as = (owner: string, ttlMs = 10 * MINUTE): LeaseOptions => ({ owner, ttlMs, clock });
const advance = (ms: number) => {
  now = new Date(now.getTime() + ms);
};

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'lease-'));
  store = new FileSystemObjectStore(root);
  now = T0;
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('acquiring', () => {
  it('gives a free lease to the first run and writes who holds it until when', async () => {
    const lease = await acquireLease(store, 'loader', as('loader:run-1'));

    expect(lease).toMatchObject({ name: 'loader', key: leaseKey('loader'), owner: 'loader:run-1' });
    expect(lease?.acquiredAt).toEqual(T0);
    expect(lease?.expiresAt).toEqual(new Date(T0.getTime() + 10 * MINUTE));
    const onDisk = JSON.parse((await store.getBytes(leaseKey('loader'))).toString());
    expect(onDisk).toMatchObject({
      owner: 'loader:run-1',
      acquiredAt: '2024-05-01T10:00:00.000Z',
      expiresAt: '2024-05-01T10:10:00.000Z',
    });
  });

  it('refuses a live lease and says who holds it', async () => {
    await acquireLease(store, 'loader', as('run-1'));
    advance(9 * MINUTE);

    expect(await acquireLease(store, 'loader', as('run-2'))).toBeUndefined();
    expect(await tryAcquireLease(store, 'loader', as('run-2'))).toEqual({
      acquired: false,
      heldBy: 'run-1',
      expiresAt: new Date('2024-05-01T10:10:00.000Z'),
    });
  });

  it('lets exactly one of two simultaneous acquirers win', async () => {
    const [a, b] = await Promise.all([
      acquireLease(store, 'batcher', as('run-a')),
      acquireLease(new FileSystemObjectStore(root), 'batcher', as('run-b')),
    ]);

    expect([a, b].filter((lease) => lease !== undefined)).toHaveLength(1);
    const holder = (a ?? b)?.owner;
    expect((await readLease(store, 'batcher'))?.record?.owner).toBe(holder);
  });

  it('keeps leases of different names apart', async () => {
    expect(await acquireLease(store, 'batcher-events', as('a'))).toBeDefined();
    expect(await acquireLease(store, 'batcher-merge_ids', as('b'))).toBeDefined();
  });

  it('takes over an expired lease', async () => {
    await acquireLease(store, 'loader', as('crashed-run'));
    advance(10 * MINUTE);

    const lease = await acquireLease(store, 'loader', as('next-run'));

    expect(lease?.owner).toBe('next-run');
    expect((await readLease(store, 'loader'))?.record?.owner).toBe('next-run');
  });

  it('lets exactly one of many concurrent takeovers of an expired lease win', async () => {
    await acquireLease(store, 'loader', as('crashed-run'));
    advance(11 * MINUTE);

    const leases = await Promise.all(
      Array.from({ length: 10 }, (_, i) => acquireLease(store, 'loader', as(`taker-${i}`))),
    );

    const winners = leases.filter((lease) => lease !== undefined);
    expect(winners).toHaveLength(1);
    expect((await readLease(store, 'loader'))?.record?.owner).toBe(winners[0]?.owner);
  });

  it('takes over a lease file that is not a lease record', async () => {
    await store.put(leaseKey('loader'), 'not json');

    expect((await acquireLease(store, 'loader', as('run-1')))?.owner).toBe('run-1');
  });

  it('rejects bad names and options with a clear message', async () => {
    await expect(acquireLease(store, '../x', as('a'))).rejects.toThrow(/Invalid lease name/);
    await expect(acquireLease(store, 'loader', as(' '))).rejects.toThrow(/non-empty owner/);
    await expect(acquireLease(store, 'loader', as('a', 0))).rejects.toThrow(/positive ttlMs/);
  });
});

describe('renewing and releasing', () => {
  it('renew moves the expiry so others stay out', async () => {
    const lease = await acquireLease(store, 'loader', as('run-1'));
    advance(8 * MINUTE);

    await lease?.renew();

    expect(lease?.expiresAt).toEqual(new Date(T0.getTime() + 18 * MINUTE));
    advance(5 * MINUTE);
    expect(await tryAcquireLease(store, 'loader', as('run-2'))).toMatchObject({
      acquired: false,
      heldBy: 'run-1',
    });
    await lease?.renew();
    expect((await readLease(store, 'loader'))?.record?.expiresAt).toBe('2024-05-01T10:23:00.000Z');
  });

  it('renew fails with LeaseLostError once another run took the lease over', async () => {
    const stale = await acquireLease(store, 'loader', as('slow-run'));
    advance(11 * MINUTE);
    await acquireLease(store, 'loader', as('next-run'));

    await expect(stale?.renew()).rejects.toBeInstanceOf(LeaseLostError);
    expect((await readLease(store, 'loader'))?.record?.owner).toBe('next-run');
  });

  it('release deletes the lease only while it is ours', async () => {
    const stale = await acquireLease(store, 'loader', as('slow-run'));
    advance(11 * MINUTE);
    const current = await acquireLease(store, 'loader', as('next-run'));

    expect(await stale?.release()).toBe(false);
    expect((await readLease(store, 'loader'))?.record?.owner).toBe('next-run');

    expect(await current?.release()).toBe(true);
    expect(await readLease(store, 'loader')).toBeUndefined();
    expect(await acquireLease(store, 'loader', as('third-run'))).toBeDefined();
  });

  it('release after renew still recognises the lease as ours', async () => {
    const lease = await acquireLease(store, 'loader', as('run-1'));
    advance(MINUTE);
    await lease?.renew();

    expect(await lease?.release()).toBe(true);
    expect(await store.head(leaseKey('loader'))).toBeUndefined();
    await expect(lease?.renew()).rejects.toThrow(/already released/);
  });
});

describe('withLease', () => {
  it('runs the work, returns its result and releases the lease', async () => {
    const outcome = await withLease(store, 'loader', as('run-1'), async (lease) => {
      expect((await readLease(store, 'loader'))?.record?.owner).toBe(lease.owner);
      return 42;
    });

    expect(outcome).toEqual({ acquired: true, result: 42 });
    expect(await readLease(store, 'loader')).toBeUndefined();
  });

  it('does not run the work while another run holds the lease', async () => {
    await acquireLease(store, 'loader', as('run-1'));
    let ran = false;

    const outcome = await withLease(store, 'loader', as('run-2'), async () => {
      ran = true;
    });

    expect(ran).toBe(false);
    expect(outcome).toEqual({
      acquired: false,
      heldBy: 'run-1',
      expiresAt: new Date('2024-05-01T10:10:00.000Z'),
    });
  });

  it('releases the lease when the work fails and rethrows the failure', async () => {
    await expect(
      withLease(store, 'loader', as('run-1'), async () => {
        throw new Error('load failed');
      }),
    ).rejects.toThrow('load failed');

    expect(await readLease(store, 'loader')).toBeUndefined();
  });
});

describe('a holder that records its process (the local runner)', () => {
  const here = { host: 'laptop', pid: 4242 };
  const running = new Set<number>([4242, 5151]);
  const local = (owner: string, pid: number): LeaseOptions => ({
    ...as(owner),
    holder: { self: { host: 'laptop', pid }, isGone: (h) => h.host === 'laptop' && !running.has(h.pid) },
  });

  it('records host and process id, and refuses the lease while that process runs', async () => {
    await acquireLease(store, 'batcher', local('batcher:run-1', here.pid));
    const onDisk = JSON.parse((await store.getBytes(leaseKey('batcher'))).toString());
    expect(onDisk.holder).toEqual(here);
    expect(await tryAcquireLease(store, 'batcher', local('batcher:run-2', 5151))).toEqual({
      acquired: false,
      heldBy: 'batcher:run-1',
      expiresAt: new Date(T0.getTime() + 10 * MINUTE),
      holder: here,
    });
  });

  it('takes over a live lease at once when its process is gone (Ctrl-C, SIGKILL)', async () => {
    await acquireLease(store, 'batcher', local('batcher:run-1', 7777)); // 7777 is not running
    advance(MINUTE);
    const lease = await acquireLease(store, 'batcher', local('batcher:run-2', 5151));
    expect(lease?.owner).toBe('batcher:run-2');
  });

  it('keeps TTL semantics for a taker without a process check (Lambda): a dead holder still blocks until expiry', async () => {
    await acquireLease(store, 'loader', local('loader:run-1', 7777));
    advance(MINUTE);
    expect(await acquireLease(store, 'loader', as('loader:lambda'))).toBeUndefined();
    advance(10 * MINUTE);
    expect((await acquireLease(store, 'loader', as('loader:lambda')))?.owner).toBe('loader:lambda');
  });

  it("releaseLeaseOf deletes the lease of that process only (a signal handler's release)", async () => {
    await acquireLease(store, 'loader', local('loader:run-1', 5151));
    expect(await releaseLeaseOf(store, 'loader', here)).toBe(false);
    expect(await readLease(store, 'loader')).toBeDefined();
    expect(await releaseLeaseOf(store, 'loader', { host: 'laptop', pid: 5151 })).toBe(true);
    expect(await readLease(store, 'loader')).toBeUndefined();
    expect(await releaseLeaseOf(store, 'loader', { host: 'laptop', pid: 5151 })).toBe(false);
  });
});
