import { ConfigError } from '../config/validate.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { PostgresRunner } from './postgres.ts';
import type { SqlRunner } from './sql-runner.ts';

export { PostgresRunner, type PostgresRunnerOptions } from './postgres.ts';
export {
  CopyStatementError,
  isCopyStatement,
  parseRedshiftCopy,
  postgresCopyFromStdin,
  postgresCopyOptions,
  type RedshiftCopy,
} from './redshift-copy.ts';
export {
  RedshiftDataApiRunner,
  type RedshiftDataApiRunnerOptions,
  type RedshiftTarget,
} from './redshift-data.ts';
export { warehouseErrorFromException, warehouseErrorFromStatement } from './redshift-errors.ts';
export * from './sql-runner.ts';

/**
 * The runner for a `postgres://` / `postgresql://` URL (the local pipeline). Redshift is
 * reached through the Data API, never by URL: build a `RedshiftDataApiRunner` for it.
 */
export function sqlRunnerFromUrl(
  url: string,
  store: ObjectStore,
  options: { poolSize?: number } = {},
): SqlRunner {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new ConfigError(
      'The database URL is not a valid URL; expected postgres://user:password@host:port/database.',
    );
  }
  if (protocol === 'postgres:' || protocol === 'postgresql:') {
    return new PostgresRunner({ connectionString: url, store, ...options });
  }
  throw new ConfigError(
    `The database URL uses ${JSON.stringify(protocol.replace(/:$/, ''))}; only postgres:// and postgresql:// URLs are supported (Redshift is reached through the Data API, configured by the stack).`,
  );
}
