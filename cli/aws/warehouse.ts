import { FEEDS, type Feed } from '#shared/schema/columns.ts';
import { RedshiftDataApiRunner, type RedshiftTarget } from '#shared/warehouse/redshift-data.ts';
import type { AwsCommandDeps, AwsSession } from './session.ts';
import { STACK_OUTPUTS } from './stack.ts';

export const DEFAULT_SCHEMA = 'amplitude';

/**
 * A Data API runner signed in with the stack's Redshift secret, for the cluster or workgroup
 * the stack outputs name: the same values the loader Lambda is given. `missing` lists the
 * outputs an older stack lacks (then there is no runner).
 */
export function warehouseRunner(
  session: AwsSession,
  deps: AwsCommandDeps,
  options: { statementName: string; timeoutMs: number; pollIntervalMs: number },
): { runner?: RedshiftDataApiRunner; missing: string[] } {
  const cluster = session.stack.optional('clusterIdentifier');
  const workgroup = session.stack.optional('workgroupName');
  const database = session.stack.optional('database');
  const secretArn = session.stack.optional('secretArn');
  const missing = [
    ...(database ? [] : [STACK_OUTPUTS.database]),
    ...(secretArn ? [] : [STACK_OUTPUTS.secretArn]),
    ...(cluster || workgroup ? [] : [`${STACK_OUTPUTS.clusterIdentifier} or ${STACK_OUTPUTS.workgroupName}`]),
  ];
  const target: RedshiftTarget | undefined = cluster
    ? { clusterIdentifier: cluster }
    : workgroup
      ? { workgroupName: workgroup }
      : undefined;
  if (!target || !database || !secretArn) return { missing };
  return {
    missing,
    runner: new RedshiftDataApiRunner({
      client: session.redshiftData,
      database,
      secretArn,
      target,
      statementName: options.statementName,
      sleep: deps.sleep,
      clock: deps.now,
      pollIntervalMs: options.pollIntervalMs,
      timeoutMs: options.timeoutMs,
    }),
  };
}

/** The feeds the stack exports (its `Feeds` output); both when an older stack has none. */
export function stackFeeds(session: AwsSession): readonly Feed[] {
  const raw = session.stack.optional('feeds');
  if (raw === undefined) return FEEDS;
  const listed = raw.split(',').map((feed) => feed.trim());
  const feeds = FEEDS.filter((feed) => listed.includes(feed));
  return feeds.length > 0 ? feeds : FEEDS;
}
