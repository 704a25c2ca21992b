import { randomBytes } from 'node:crypto';
import type { Clock } from '../../base/clock.ts';
import type { PipelineSettings } from '../../config/pipeline.ts';
import type { Feed } from '../../schema/columns.ts';
import { type Lease, type LeaseHolderCheck, LeaseLostError } from '../../storage/lease.ts';
import type { ObjectStore } from '../../storage/object-store.ts';
import type { SqlRunner } from '../../warehouse/sql-runner.ts';
import type { LoadTarget } from './load-transaction.ts';
import {
  emptyFeedLoadSummary,
  type FeedLoadSummary,
  type LoaderError,
  type LoaderSummary,
  type StopReason,
} from './summary.ts';

export const LOADER_LEASE = 'loader';
/** Longer than the loader Lambda's timeout, so a live run never loses its lease. */
export const DEFAULT_LOADER_LEASE_TTL_MS = 15 * 60_000;

export interface LoaderOptions {
  /** The staging store: pending manifests, staged parts, state. */
  readonly store: ObjectStore;
  readonly runner: SqlRunner;
  readonly settings: PipelineSettings;
  readonly clock: Clock;
  /**
   * Names this run in load ids (which are also Data API client tokens), so it must be unique
   * per run. @default - `load-<UTC time>-<random>`
   */
  readonly runId?: string;
  /** No new load transaction starts after this long (keep it under the Lambda timeout). @default - no limit */
  readonly budgetMs?: number;
  /** @default DEFAULT_LOADER_LEASE_TTL_MS */
  readonly leaseTtlMs?: number;
  /** Records this process in the lease and takes over one whose process is gone (the local runner). @default - TTL only */
  readonly leaseHolder?: LeaseHolderCheck;
  /**
   * Told the feeds' figures after every committed load transaction (the local runner's
   * progress line). @default - none
   */
  readonly onProgress?: (feeds: readonly FeedLoadSummary[]) => void;
}

const RUN_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,47}$/;

function newRunId(clock: Clock): string {
  const stamp = clock()
    .toISOString()
    .replace(/[-:]|\.\d+/g, '')
    .toLowerCase();
  return `load-${stamp}-${randomBytes(3).toString('hex')}`;
}

/** The state of one loader run: its summary as it grows, its lease, its time budget. */
export class LoaderRun {
  readonly store: ObjectStore;
  readonly runner: SqlRunner;
  readonly settings: PipelineSettings;
  readonly clock: Clock;
  readonly runId: string;
  readonly started: number;
  readonly budgetMs: number | undefined;
  readonly leaseTtlMs: number;
  readonly onProgress: ((feeds: readonly FeedLoadSummary[]) => void) | undefined;
  readonly feeds: FeedLoadSummary[];
  readonly errors: LoaderError[] = [];
  lease: Lease | undefined;
  stoppedEarly: StopReason | undefined;
  needsAttention = false;
  /** Newest upload time (epoch ms) loaded by this run, per feed. */
  readonly newestUpload = new Map<Feed, number>();
  #loads = 0;

  constructor(options: LoaderOptions) {
    this.store = options.store;
    this.runner = options.runner;
    this.settings = options.settings;
    this.clock = options.clock;
    this.started = options.clock().getTime();
    this.runId = options.runId ?? newRunId(options.clock);
    if (!RUN_ID_PATTERN.test(this.runId)) {
      throw new Error(`Invalid loader runId ${JSON.stringify(this.runId)}: expected ${RUN_ID_PATTERN}.`);
    }
    this.budgetMs = options.budgetMs;
    this.leaseTtlMs = options.leaseTtlMs ?? DEFAULT_LOADER_LEASE_TTL_MS;
    this.onProgress = options.onProgress;
    this.feeds = options.settings.feeds.map(emptyFeedLoadSummary);
  }

  feedSummary(feed: Feed): FeedLoadSummary {
    return this.feeds.find((summary) => summary.feed === feed)!;
  }

  nextLoadId(feed: Feed): string {
    this.#loads++;
    return `${this.runId}-${feed === 'events' ? 'e' : 'm'}${this.#loads}`;
  }

  stop(reason: StopReason): void {
    this.stoppedEarly ??= reason;
  }

  /** True once the run has stopped or its time budget is spent. */
  outOfTime(): boolean {
    if (this.stoppedEarly) return true;
    if (this.budgetMs !== undefined && this.clock().getTime() - this.started >= this.budgetMs) {
      this.stop('budget');
      return true;
    }
    return false;
  }

  /** May another load transaction start? Also keeps the lease alive for it. */
  async mayStartLoad(): Promise<boolean> {
    if (this.outOfTime()) return false;
    const now = this.clock().getTime();
    if (this.lease && this.lease.expiresAt.getTime() - now < this.leaseTtlMs / 2) {
      try {
        await this.lease.renew();
      } catch (error) {
        if (!(error instanceof LeaseLostError)) throw error;
        this.stop('lease-lost');
        return false;
      }
    }
    return true;
  }

  summary(skipped?: LoaderSummary['skipped']): LoaderSummary {
    const now = this.clock().getTime();
    const age = (upload: number) => Math.max(0, Math.round((now - upload) / 1000));
    for (const feed of this.feeds) {
      const upload = this.newestUpload.get(feed.feed);
      if (upload !== undefined) feed.freshnessSeconds = age(upload);
    }
    const newest = Math.max(...this.newestUpload.values());
    return {
      runId: this.runId,
      ...(skipped ? { skipped } : {}),
      feeds: this.feeds,
      errors: this.errors,
      ...(this.stoppedEarly ? { stoppedEarly: this.stoppedEarly } : {}),
      needsAttention: this.needsAttention,
      ...(this.newestUpload.size > 0 ? { freshnessSeconds: age(newest) } : {}),
      durationMs: now - this.started,
    };
  }
}

/** Where this run's loads of the feed go: the project's table in the schema. */
export function targetOf(run: LoaderRun, feed: Feed): LoadTarget {
  const { schema, projectId, copyRoleArn } = run.settings;
  return { schema, projectId, feed, ...(copyRoleArn ? { copyRoleArn } : {}) };
}
