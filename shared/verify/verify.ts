import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Clock } from '../base/clock.ts';
import { PREFIXES } from '../base/staging-keys.ts';
import type { PipelineSettings } from '../config/pipeline.ts';
import { encodeCsvRow, REDSHIFT_COPY_FORMAT_OPTIONS } from '../format/csv.ts';
import type { CopyManifest } from '../format/manifest.ts';
import { BATCH_ID_COLUMN, columnsOf, type Feed, tableName } from '../schema/columns.ts';
import { columnType, ERASED_IDS_TABLE, ERASURES_TABLE, LEDGER_TABLE } from '../sql/ddl.ts';
import { quoteIdent, quoteLiteral } from '../sql/identifiers.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { PermanentWarehouseError, RetryableWarehouseError, type SqlRunner } from '../warehouse/sql-runner.ts';

export type VerifyCheckName = 'secret' | 'connection' | 'tables' | 'privileges' | 'staging' | 'copy';

export interface VerifyCheck {
  readonly name: VerifyCheckName;
  readonly ok: boolean;
  /** What was found, in a sentence. Never a password or a row value beyond the test batch. */
  readonly detail: string;
  /** What to do, when `ok` is false. */
  readonly fix?: string;
}

export interface VerifyReport {
  /** Every check passed. Checks after the first failure that makes them meaningless are not run. */
  readonly ok: boolean;
  readonly checks: readonly VerifyCheck[];
}

export interface VerifyInput {
  /** The staging store: the test batch is written below `verify/` and removed afterwards. */
  readonly store: ObjectStore;
  readonly runner: SqlRunner;
  readonly settings: Pick<PipelineSettings, 'projectId' | 'feeds' | 'schema' | 'copyRoleArn'>;
  readonly clock: Clock;
  /**
   * What is known about the secret without looking at the password: whether it still
   * carries the placeholder flag of a secret the stack generated. @default - no secret (local)
   */
  readonly secret?: { readonly passwordIsPlaceholder?: boolean };
  /** How to print the setup SQL, quoted in fixes. @default 'npx redshift-export setup-sql ...' */
  readonly setupSqlCommand?: string;
  /** How to associate the COPY role, quoted in fixes. @default - the stack output's name */
  readonly associateRoleHint?: string;
}

type Failure = 'authentication' | 'permission' | 'missing' | 'copyRole' | 'unreachable' | 'other';

/**
 * Checks a deployment the way the loader uses it: the secret, the connection, the tables
 * and grants, and a real COPY of a small test batch from the staging store into a
 * temporary table, read back by value. Answers with a check list and, for each failure,
 * what to do. Never throws for a warehouse or storage problem: that is a failed check.
 */
export async function runVerify(input: VerifyInput): Promise<VerifyReport> {
  const checks: VerifyCheck[] = [];
  const done = () => ({ ok: checks.every((check) => check.ok), checks });
  const setupSql =
    input.setupSqlCommand ?? 'npx redshift-export setup-sql (see the SetupSqlCommand stack output)';

  if (input.secret !== undefined) {
    if (input.secret.passwordIsPlaceholder) {
      checks.push({
        name: 'secret',
        ok: false,
        detail:
          'The Redshift secret still holds the password the stack generated (its passwordIsPlaceholder key is set).',
        fix: "Open the secret (RedshiftSecretArn output) in Secrets Manager, set password to the database user's real password and delete the passwordIsPlaceholder key. Then run verify again.",
      });
      return done();
    }
    checks.push({
      name: 'secret',
      ok: true,
      detail: 'The secret holds a password set by you (no placeholder flag).',
    });
  }

  try {
    await input.runner.query('SELECT 1 AS ok');
    checks.push({ name: 'connection', ok: true, detail: 'Signed in to the warehouse and ran a query.' });
  } catch (error) {
    checks.push(failed('connection', 'Could not run a query in the warehouse', error, setupSql, input));
    return done();
  }

  const { schema, projectId, feeds } = input.settings;
  const tables = [
    ...feeds.map((feed) => tableName(feed, projectId)),
    LEDGER_TABLE,
    ERASURES_TABLE,
    ERASED_IDS_TABLE,
  ];
  try {
    const missing = await missingTables(input.runner, schema, tables);
    if (missing.length > 0) {
      checks.push({
        name: 'tables',
        ok: false,
        detail: `Missing in schema ${schema}: ${missing.join(', ')}.`,
        fix: `Run the setup SQL as a superuser: ${setupSql}.`,
      });
      return done();
    }
    checks.push({ name: 'tables', ok: true, detail: `Schema ${schema} has ${tables.join(', ')}.` });
  } catch (error) {
    checks.push(failed('tables', 'Could not list the tables', error, setupSql, input));
    return done();
  }

  try {
    const lacking = await lackingPrivileges(input.runner, schema, tables);
    checks.push(
      lacking.length === 0
        ? {
            name: 'privileges',
            ok: true,
            detail:
              'The user may use the schema, read and insert into every table (and delete from the exported ones, for erasure requests), and create temporary tables.',
          }
        : {
            name: 'privileges',
            ok: false,
            detail: `The database user lacks: ${lacking.join('; ')}.`,
            fix: `Run the grants of the setup SQL as a superuser: ${setupSql}.`,
          },
    );
    if (lacking.length > 0) return done();
  } catch (error) {
    checks.push(failed('privileges', 'Could not check the grants', error, setupSql, input));
    return done();
  }

  const runId = `${input.clock().getTime().toString(36)}-${randomBytes(4).toString('hex')}`;
  const written: string[] = [];
  try {
    const batches = await writeTestBatches(input, runId, written);
    checks.push({
      name: 'staging',
      ok: true,
      detail: `Wrote a test batch per feed below ${PREFIXES.verify}${runId}/ in ${input.store.root}.`,
    });
    for (const batch of batches) {
      const matched = await copyAndReadBack(input, batch);
      if (matched !== batch.rows.length) {
        checks.push({
          name: 'copy',
          ok: false,
          detail: `COPY of the ${batch.feed} test batch read back ${matched} of ${batch.rows.length} rows with the values written.`,
          fix: 'The staged format and the warehouse disagree; report this with the verify output.',
        });
        return done();
      }
    }
    checks.push({
      name: 'copy',
      ok: true,
      detail: `COPY through the COPY role loaded the test batch of ${feeds.join(' and ')} into a temporary table and read it back.`,
    });
  } catch (error) {
    const name: VerifyCheckName = checks.some((check) => check.name === 'staging') ? 'copy' : 'staging';
    checks.push(
      name === 'staging'
        ? {
            name,
            ok: false,
            detail: `Could not write the test batch to ${input.store.root}: ${messageOf(error)}`,
            fix: `Check that this function may write below ${PREFIXES.verify} in the staging bucket and use its KMS key (the stack grants both).`,
          }
        : failed('copy', 'COPY of the test batch failed', error, setupSql, input),
    );
  } finally {
    await Promise.allSettled(written.map((key) => input.store.delete(key)));
  }
  return done();
}

interface TestBatch {
  readonly feed: Feed;
  readonly batchId: string;
  readonly manifestUrl: string;
  readonly rows: readonly Readonly<Record<string, string>>[];
}

async function writeTestBatches(input: VerifyInput, runId: string, written: string[]): Promise<TestBatch[]> {
  const batches: TestBatch[] = [];
  const now = timestampText(input.clock());
  for (const feed of input.settings.feeds) {
    const batchId = `verify-${runId}-${feed.replace('_', '-')}`;
    const rows = testRows(feed, runId, now);
    const columns = columnsOf(feed);
    const csv = rows
      .map((row) => encodeCsvRow([...columns.map((column) => row[column.name] ?? null), batchId]))
      .join('');
    const partKey = `${PREFIXES.verify}${runId}/${feed}/part-00000.csv.gz`;
    const part = gzipSync(Buffer.from(csv, 'utf8'));
    written.push(partKey);
    await input.store.put(partKey, part, { contentType: 'application/gzip' });
    const manifest: CopyManifest = {
      entries: [{ url: input.store.url(partKey), mandatory: true, meta: { content_length: part.length } }],
    };
    const manifestKey = `${PREFIXES.verify}${runId}/${feed}/manifest.json`;
    written.push(manifestKey);
    await input.store.put(manifestKey, JSON.stringify(manifest), { contentType: 'application/json' });
    batches.push({ feed, batchId, manifestUrl: input.store.url(manifestKey), rows });
  }
  return batches;
}

/**
 * Values chosen to exercise the CSV rules: a quote, a comma and a newline in text, a
 * microsecond timestamp, JSON. Only columns named here are non-null.
 */
function testRows(feed: Feed, runId: string, now: string): Record<string, string>[] {
  if (feed === 'events') {
    return [1, 2].map((n) => ({
      uuid: `verify-${runId}-${n}`,
      event_type: `verify "quoted", with comma\nand newline ${n}`,
      amplitude_id: String(n),
      event_time: now,
      server_upload_time: now,
      event_properties: JSON.stringify({ verify: true, n }),
    }));
  }
  return [1, 2].map((n) => ({
    amplitude_id: String(1000 + n),
    merged_amplitude_id: String(2000 + n),
    merge_event_time: now,
    merge_server_time: now,
    scope: `verify-${runId}`,
  }));
}

/** COPY the batch into a temporary table like the loader's stage, and count rows that came back unchanged. */
async function copyAndReadBack(input: VerifyInput, batch: TestBatch): Promise<number> {
  const { dialect } = input.runner;
  const columns = columnsOf(batch.feed);
  const stage = quoteIdent('amplitude_export_verify');
  const batchIdColumn = quoteIdent(BATCH_ID_COLUMN);
  const columnList = columns.map((column) => quoteIdent(column.name)).join(', ');
  const role =
    input.settings.copyRoleArn === undefined
      ? 'default'
      : quoteLiteral(input.settings.copyRoleArn, 'COPY role ARN');
  const timestampType = dialect === 'redshift' ? 'TIMESTAMP' : 'timestamp(6) without time zone';
  const predicates = batch.rows.map((row) =>
    Object.entries(row)
      .filter(([name]) => columns.find((column) => column.name === name)?.kind !== 'json')
      .map(([name, value]) => {
        const kind = columns.find((column) => column.name === name)?.kind;
        const literal =
          kind === 'timestamp' || kind === 'epoch_ms'
            ? `CAST(${quoteLiteral(value)} AS ${timestampType})`
            : kind === 'bigint'
              ? value
              : quoteLiteral(value);
        return `${quoteIdent(name)} = ${literal}`;
      })
      .join(' AND '),
  );
  const statements = [
    `CREATE TEMPORARY TABLE ${stage} (\n${columns
      .map((column) => `  ${quoteIdent(column.name)} ${columnType(column, dialect)}`)
      .join(
        ',\n',
      )},\n  ${batchIdColumn} ${dialect === 'redshift' ? 'VARCHAR(128)' : 'character varying(128)'}\n)`,
    `COPY ${stage} (${columnList}, ${batchIdColumn})\nFROM ${quoteLiteral(batch.manifestUrl, 'COPY manifest URL')}\nIAM_ROLE ${role}\nMANIFEST\n${REDSHIFT_COPY_FORMAT_OPTIONS}`,
    // Reading back inside the transaction: the temporary table is gone afterwards, and the
    // row count of an UPDATE that matches on every written value is what the Data API reports.
    `UPDATE ${stage} SET ${batchIdColumn} = ${batchIdColumn}\nWHERE ${batchIdColumn} = ${quoteLiteral(batch.batchId)} AND ((${predicates.join(') OR (')}))`,
    `DROP TABLE ${stage}`,
  ];
  const result = await input.runner.transaction(statements);
  return result.rowCounts[2] ?? 0;
}

async function missingTables(
  runner: SqlRunner,
  schema: string,
  tables: readonly string[],
): Promise<string[]> {
  // pg_class rather than information_schema: the latter hides tables the user has no
  // privilege on, which would report "missing" where the problem is a grant.
  const rows = await runner.query<{ table_name: string }>(
    `SELECT c.relname AS table_name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ${quoteLiteral(schema)} AND c.relname IN (${tables.map((table) => quoteLiteral(table)).join(', ')})`,
  );
  const present = new Set(rows.map((row) => row.table_name));
  return tables.filter((table) => !present.has(table));
}

async function lackingPrivileges(
  runner: SqlRunner,
  schema: string,
  tables: readonly string[],
): Promise<string[]> {
  const general = [
    { label: `USAGE on schema ${schema}`, sql: `has_schema_privilege(${quoteLiteral(schema)}, 'USAGE')` },
    { label: 'TEMP on the database', sql: `has_database_privilege(current_database(), 'TEMP')` },
  ];
  const lacking = await lackingOf(runner, general);
  // Without USAGE the table names cannot even be resolved, so the table grants are unknowable.
  if (lacking.includes(general[0]!.label)) {
    return [
      ...lacking,
      `and possibly SELECT and INSERT on ${tables.map((table) => `${schema}.${table}`).join(', ')}`,
    ];
  }
  const perTable = tables.flatMap((table) =>
    privilegesNeeded(table).map((privilege) => ({
      label: `${privilege} on ${schema}.${table}`,
      sql: `has_table_privilege(${quoteLiteral(`${schema}.${table}`)}, '${privilege}')`,
    })),
  );
  return [...lacking, ...(await lackingOf(runner, perTable))];
}

/**
 * What the setup SQL grants, per table: UPDATE on the ledger because each load LOCKs it (more
 * than INSERT is needed for that); DELETE on the exported tables for erasure requests; the
 * erasure list is read by every load and appended to by forget.
 */
function privilegesNeeded(table: string): readonly string[] {
  if (table === LEDGER_TABLE) return ['SELECT', 'INSERT', 'UPDATE'];
  if (table === ERASURES_TABLE || table === ERASED_IDS_TABLE) return ['SELECT', 'INSERT'];
  return ['SELECT', 'INSERT', 'DELETE'];
}

async function lackingOf(
  runner: SqlRunner,
  checks: readonly { label: string; sql: string }[],
): Promise<string[]> {
  const [row] = await runner.query(
    `SELECT ${checks.map((check, index) => `${check.sql} AS p${index}`).join(', ')}`,
  );
  return checks.filter((_, index) => !isTrue(row?.[`p${index}`])).map((check) => check.label);
}

function isTrue(value: unknown): boolean {
  return value === true || value === 't' || value === 'true' || value === 1;
}

function failed(
  name: VerifyCheckName,
  what: string,
  error: unknown,
  setupSql: string,
  input: VerifyInput,
): VerifyCheck {
  const detail = `${what}: ${messageOf(error)}`;
  const fixes: Record<Failure, string> = {
    authentication:
      "The warehouse refused the user's credentials. Put the user's current password in the secret (key password) and check username, dbname and host there.",
    permission: `The database user lacks a privilege. Run the grants of the setup SQL as a superuser: ${setupSql}.`,
    missing: `A schema or table is missing. Run the setup SQL as a superuser: ${setupSql}.`,
    copyRole: `Redshift could not use the COPY role to read the staging bucket. Associate the role with the cluster or namespace (${input.associateRoleHint ?? 'the AssociateCopyRoleCommand stack output'}) and wait until the association is in sync.`,
    unreachable:
      'The warehouse was not reachable (paused, resizing, or too busy). Check that it is available, then run verify again.',
    other: 'Read the detail above; nothing was changed in the warehouse. Fix the cause and run verify again.',
  };
  return { name, ok: false, detail, fix: fixes[classify(error)] };
}

function classify(error: unknown): Failure {
  if (error instanceof RetryableWarehouseError) return 'unreachable';
  if (!(error instanceof PermanentWarehouseError)) return 'other';
  switch (error.code) {
    case 'AuthenticationFailed':
    case '28P01':
    case '28000':
      return 'authentication';
    case 'PermissionDenied':
    case '42501':
      return 'permission';
    case 'MissingObject':
    case '42P01':
    case '3F000':
      return 'missing';
    case 'CopyS3AccessDenied':
      return 'copyRole';
    default:
      return 'other';
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, the staged timestamp form. */
function timestampText(date: Date): string {
  return `${date.toISOString().slice(0, 23).replace('T', ' ')}000`;
}
