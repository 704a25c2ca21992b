import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '#cli/local/embedded-postgres.ts';
import { encodeCsvRow, REDSHIFT_COPY_FORMAT_OPTIONS } from '#shared/format/csv.ts';
import type { CopyManifest } from '#shared/format/manifest.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import { PostgresRunner } from '#shared/warehouse/postgres.ts';
import { warehouseErrorFromStatement } from '#shared/warehouse/redshift-errors.ts';
import { PermanentWarehouseError, RetryableWarehouseError } from '#shared/warehouse/sql-runner.ts';
import { createTestDatabase } from '#test/support/postgres.ts';

const ROLE = 'arn:aws:iam::111122223333:role/redshift-export-copy';
const COLUMNS = ['uuid', 'amplitude_id', 'event_time', 'event_properties', 'is_test'];

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let dir: string;
let store: FileSystemObjectStore;
let runner: PostgresRunner;
let admin: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase('warehouse');
  dir = await mkdtemp(join(tmpdir(), 'are-warehouse-'));
  store = new FileSystemObjectStore(dir);
  runner = new PostgresRunner({ connectionString: db.url, store });
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  await admin.query('CREATE SCHEMA amplitude');
});

afterAll(async () => {
  await runner?.close();
  await admin?.end();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function rowsOf(table: string, orderBy = 'id'): Promise<Record<string, unknown>[]> {
  return (await admin.query(`SELECT * FROM ${table} ORDER BY ${orderBy}`)).rows;
}

async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

describe('PostgresRunner.transaction', () => {
  beforeEach(async () => {
    await admin.query(
      'DROP TABLE IF EXISTS accounts; CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)',
    );
  });

  it('runs every statement in one transaction and reports the rows each affected', async () => {
    const result = await runner.transaction([
      'INSERT INTO accounts VALUES (1, 10), (2, 20), (3, 30)',
      'UPDATE accounts SET balance = balance + 1 WHERE id >= 2',
      'CREATE TEMP TABLE scratch (x int)',
      'SELECT id FROM accounts',
    ]);

    expect(result.statementId).toMatch(/^pg-[0-9a-f-]{36}$/);
    expect(result.rowCounts).toEqual([3, 2, 0, 3]);
    expect(await rowsOf('accounts')).toEqual([
      { id: 1, balance: 10 },
      { id: 2, balance: 21 },
      { id: 3, balance: 31 },
    ]);
  });

  it('rolls everything back when a statement fails midway', async () => {
    await admin.query('INSERT INTO accounts VALUES (1, 10)');

    const error = await failureOf(
      runner.transaction([
        'UPDATE accounts SET balance = 99',
        'INSERT INTO accounts VALUES (2, 20)',
        'INSERT INTO accounts VALUES (3, 1 / 0)',
        'INSERT INTO accounts VALUES (4, 40)',
      ]),
    );

    expect(error).toBeInstanceOf(PermanentWarehouseError);
    expect((error as PermanentWarehouseError).code).toBe('22012');
    expect(error.message).toMatch(
      /^Statement 3 of 4 in transaction pg-\S+ failed in PostgreSQL \[SQLSTATE 22012\]/,
    );
    expect(await rowsOf('accounts')).toEqual([{ id: 1, balance: 10 }]);
  });

  it('classifies a syntax error and a missing table as permanent, with what to do', async () => {
    const syntax = await failureOf(runner.transaction(['SELEC 1']));
    expect(syntax).toBeInstanceOf(PermanentWarehouseError);
    expect(syntax.message).toMatch(/SQLSTATE 42601.*syntax error.*bug in the export/);

    const missing = await failureOf(runner.transaction(['INSERT INTO amplitude.nowhere VALUES (1)']));
    expect(missing).toBeInstanceOf(PermanentWarehouseError);
    expect((missing as PermanentWarehouseError).code).toBe('42P01');
    expect(missing.message).toMatch(/relation "amplitude.nowhere" does not exist.*redshift-export setup-sql/);

    const schema = await failureOf(runner.transaction(['CREATE TABLE nowhere.t (x int)']));
    expect((schema as PermanentWarehouseError).code).toBe('3F000');
  });

  it('classifies a missing privilege and refused credentials as permanent, without echoing the password', async () => {
    const role = `limited_${randomBytes(4).toString('hex')}`;
    const password = `pw-${randomBytes(8).toString('hex')}`;
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    const url = new URL(db.url);
    url.username = role;
    url.password = password;
    const limited = new PostgresRunner({ connectionString: url.toString(), store });
    url.password = 'wrong-password-value';
    const wrong = new PostgresRunner({ connectionString: url.toString(), store });
    try {
      const denied = await failureOf(limited.transaction(['INSERT INTO accounts VALUES (5, 5)']));
      expect(denied).toBeInstanceOf(PermanentWarehouseError);
      expect((denied as PermanentWarehouseError).code).toBe('42501');
      expect(denied.message).toMatch(
        /permission denied for table accounts.*grants printed by `redshift-export setup-sql`/,
      );

      const refused = await failureOf(wrong.transaction(['SELECT 1']));
      expect(refused).toBeInstanceOf(PermanentWarehouseError);
      expect((refused as PermanentWarehouseError).code).toBe('28P01');
      expect(refused.message).toMatch(/password authentication failed.*Fix the credentials/);
      expect(refused.message).not.toContain('wrong-password-value');
    } finally {
      await limited.close();
      await wrong.close();
      await admin.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
  });

  it('reports a serialization failure (40001) as retryable', async () => {
    await admin.query('INSERT INTO accounts VALUES (1, 10)');
    // The transaction takes its snapshot, sleeps while another session commits an update of
    // the same row, then updates that row itself: PostgreSQL must refuse under SERIALIZABLE.
    const slow = runner.transaction([
      'SELECT balance FROM accounts WHERE id = 1',
      'SELECT pg_sleep(0.5)',
      'UPDATE accounts SET balance = balance + 1 WHERE id = 1',
    ]);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await admin.query('UPDATE accounts SET balance = balance + 100 WHERE id = 1');

    const error = await failureOf(slow);

    expect(error).toBeInstanceOf(RetryableWarehouseError);
    expect((error as RetryableWarehouseError).code).toBe('40001');
    expect(error.message).toMatch(/Statement 3 of 3 .*could not serialize access/);
    expect(await rowsOf('accounts')).toEqual([{ id: 1, balance: 110 }]);
  });

  it('reports a deadlock (40P01) as retryable and lets the other transaction commit', async () => {
    await admin.query('INSERT INTO accounts VALUES (1, 10), (2, 20)');
    const results = await Promise.allSettled([
      runner.transaction([
        'UPDATE accounts SET balance = balance + 1 WHERE id = 1',
        'SELECT pg_sleep(0.3)',
        'UPDATE accounts SET balance = balance + 1 WHERE id = 2',
      ]),
      runner.transaction([
        'UPDATE accounts SET balance = balance + 1 WHERE id = 2',
        'SELECT pg_sleep(0.3)',
        'UPDATE accounts SET balance = balance + 1 WHERE id = 1',
      ]),
    ]);

    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.reason).toBeInstanceOf(RetryableWarehouseError);
    expect(failed[0]!.reason.code).toBe('40P01');
    expect(failed[0]!.reason.message).toMatch(/deadlock/);
    expect(await rowsOf('accounts')).toEqual([
      { id: 1, balance: 11 },
      { id: 2, balance: 21 },
    ]);
  });

  it('reports a lock timeout (55P03) as retryable', async () => {
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE');
      const error = await failureOf(
        runner.transaction(["SET LOCAL lock_timeout = '100ms'", 'INSERT INTO accounts VALUES (9, 9)']),
      );
      expect(error).toBeInstanceOf(RetryableWarehouseError);
      expect((error as RetryableWarehouseError).code).toBe('55P03');
      expect(error.message).toMatch(/lock timeout.*retried/);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });

  it('reports an unreachable server as retryable', async () => {
    const port = await freePort();
    const nowhere = new PostgresRunner({
      connectionString: `postgres://u:secret-pw@127.0.0.1:${port}/db`,
      store,
    });
    try {
      const error = await failureOf(nowhere.transaction(['SELECT 1']));
      expect(error).toBeInstanceOf(RetryableWarehouseError);
      expect(error.message).toMatch(/could not reach PostgreSQL/);
      expect(error.message).not.toContain('secret-pw');
    } finally {
      await nowhere.close();
    }
  });

  it('refuses more than 40 statements before running any', async () => {
    const statements = Array.from({ length: 41 }, (_, i) => `INSERT INTO accounts VALUES (${i}, 0)`);
    const error = await failureOf(runner.transaction(statements));
    expect(error).toBeInstanceOf(PermanentWarehouseError);
    expect(error.message).toMatch(/41 SQL statements.*at most 40/);
    expect(await rowsOf('accounts')).toEqual([]);
  });
});

describe('PostgresRunner: Redshift manifest COPY', () => {
  let prefix: string;

  beforeEach(async () => {
    prefix = `staging/events/${randomBytes(4).toString('hex')}/`;
    await admin.query(`DROP TABLE IF EXISTS amplitude.events_1;
      CREATE TABLE amplitude.events_1 (
        uuid text PRIMARY KEY, amplitude_id bigint, event_time timestamp(6), event_properties jsonb, is_test boolean)`);
  });

  type Row = [string, string | null, string | null, string | null, string | null];

  async function loadedEvents(): Promise<Record<string, unknown>[]> {
    const { rows } = await admin.query(
      `SELECT uuid, amplitude_id::text AS amplitude_id, event_time::text AS event_time,
              event_properties::text AS props, is_test
         FROM amplitude.events_1 ORDER BY uuid`,
    );
    return rows;
  }

  async function putPart(
    name: string,
    rows: readonly Row[],
    gzip = true,
  ): Promise<{ url: string; size: number }> {
    const csv = rows.map((row) => encodeCsvRow(row)).join('');
    const body = gzip ? gzipSync(Buffer.from(csv, 'utf8')) : Buffer.from(csv, 'utf8');
    const key = `${prefix}${name}`;
    await store.put(key, body);
    return { url: store.url(key), size: body.length };
  }

  async function putManifest(entries: CopyManifest['entries']): Promise<string> {
    const key = `manifests/copy/${randomBytes(4).toString('hex')}.json`;
    await store.put(key, JSON.stringify({ entries } satisfies CopyManifest));
    return store.url(key);
  }

  const entry = (part: { url: string; size: number }, size = part.size) =>
    ({ url: part.url, mandatory: true, meta: { content_length: size } }) as const;

  const copySql = (manifestUrl: string, table = '"stage"', options = REDSHIFT_COPY_FORMAT_OPTIONS) =>
    `COPY ${table} (${COLUMNS.map((c) => `"${c}"`).join(', ')}) FROM '${manifestUrl}' IAM_ROLE '${ROLE}' MANIFEST ${options}`;

  const load = (manifestUrl: string, ...more: string[]) => [
    'CREATE TEMP TABLE "stage" (LIKE amplitude.events_1) ON COMMIT DROP',
    copySql(manifestUrl),
    'INSERT INTO amplitude.events_1 SELECT * FROM "stage"',
    ...more,
  ];

  const PART_1: Row[] = [
    ['u-1', '9007199254740991', '2024-01-31 23:59:59.123456', '{"plan":"pro","n":[1,2]}', 'true'],
    ['u-2', null, null, null, null],
    ['u-3', '-5', '2024-02-01 00:00:00', '{}', 'false'],
  ];
  const PART_2: Row[] = [
    ['u-4, with "quotes"\nand a newline', '0', '2024-02-01 00:00:00.5', '"text \\\\ with backslash"', 'true'],
    ['', '7', '2024-02-01 01:00:00', '[]', 'false'],
  ];
  const PART_3: Row[] = [['u-6 ~NULL~ inside', '8', '2024-02-01 02:00:00', 'null', null]];

  it('loads every file of the manifest into the table named by the COPY, row for row', async () => {
    const parts = [await putPart('part-00000.csv.gz', PART_1), await putPart('part-00001.csv.gz', PART_2)];
    parts.push(await putPart('part-00002.csv.gz', PART_3));
    const manifest = await putManifest(parts.map((part) => entry(part)));

    const result = await runner.transaction(load(manifest));

    expect(result.rowCounts).toEqual([0, 6, 6]);
    expect(await loadedEvents()).toEqual([
      { uuid: '', amplitude_id: '7', event_time: '2024-02-01 01:00:00', props: '[]', is_test: false },
      {
        uuid: 'u-1',
        amplitude_id: '9007199254740991',
        event_time: '2024-01-31 23:59:59.123456',
        props: '{"n": [1, 2], "plan": "pro"}',
        is_test: true,
      },
      { uuid: 'u-2', amplitude_id: null, event_time: null, props: null, is_test: null },
      { uuid: 'u-3', amplitude_id: '-5', event_time: '2024-02-01 00:00:00', props: '{}', is_test: false },
      {
        uuid: 'u-4, with "quotes"\nand a newline',
        amplitude_id: '0',
        event_time: '2024-02-01 00:00:00.5',
        props: '"text \\\\ with backslash"',
        is_test: true,
      },
      {
        uuid: 'u-6 ~NULL~ inside',
        amplitude_id: '8',
        event_time: '2024-02-01 02:00:00',
        props: 'null',
        is_test: null,
      },
    ]);
  });

  it('loads an uncompressed file when the statement has no GZIP', async () => {
    const part = await putPart('part-00000.csv', PART_3, false);
    const manifest = await putManifest([entry(part)]);
    const options = REDSHIFT_COPY_FORMAT_OPTIONS.replace(/\s*GZIP\b/, '');
    expect(options).not.toMatch(/GZIP/);

    const result = await runner.transaction([
      'CREATE TEMP TABLE "stage" (LIKE amplitude.events_1) ON COMMIT DROP',
      copySql(manifest, '"stage"', options),
    ]);

    expect(result.rowCounts).toEqual([0, 1]);
  });

  it('fails the COPY, and loads nothing, when a file is not the size the manifest says', async () => {
    const good = await putPart('part-00000.csv.gz', PART_1);
    const bad = await putPart('part-00001.csv.gz', PART_2);
    const manifest = await putManifest([entry(good), entry(bad, bad.size + 1)]);

    const error = await failureOf(runner.transaction(load(manifest)));

    expect(error).toBeInstanceOf(PermanentWarehouseError);
    expect((error as PermanentWarehouseError).code).toBe('CopyContentLengthMismatch');
    expect(error.message).toContain(`${bad.size} bytes but manifest`);
    expect(error.message).toMatch(/^Statement 2 of 3 in transaction pg-/);
    expect(await loadedEvents()).toEqual([]);
  });

  it('fails when a mandatory file is missing, and skips a missing optional one', async () => {
    const good = await putPart('part-00000.csv.gz', PART_1);
    const missingUrl = store.url(`${prefix}part-00009.csv.gz`);
    const mandatory = await putManifest([
      entry(good),
      { url: missingUrl, mandatory: true, meta: { content_length: 10 } },
    ]);

    const error = await failureOf(runner.transaction(load(mandatory)));
    expect(error).toBeInstanceOf(PermanentWarehouseError);
    expect((error as PermanentWarehouseError).code).toBe('CopyFileMissing');
    expect(error.message).toContain(missingUrl);
    expect(await loadedEvents()).toEqual([]);

    const optionalKey = `manifests/copy/${randomBytes(4).toString('hex')}.json`;
    await store.put(
      optionalKey,
      JSON.stringify({
        entries: [entry(good), { url: missingUrl, mandatory: false, meta: { content_length: 10 } }],
      }),
    );
    const result = await runner.transaction(load(store.url(optionalKey)));
    expect(result.rowCounts).toEqual([0, 3, 3]);
  });

  it('leaves nothing behind when a statement after the COPY fails', async () => {
    const manifest = await putManifest([entry(await putPart('part-00000.csv.gz', PART_1))]);

    const error = await failureOf(
      runner.transaction(load(manifest, 'INSERT INTO amplitude.events_1 (uuid) VALUES (1 / 0)')),
    );

    expect((error as PermanentWarehouseError).code).toBe('22012');
    expect(await loadedEvents()).toEqual([]);
  });

  it('reports a row PostgreSQL rejects with the file and line, and loads nothing', async () => {
    const good = await putPart('part-00000.csv.gz', PART_1);
    const bad = await putPart('part-00001.csv.gz', [
      ['u-8', '1', '2024-02-01 00:00:00', '{}', 'true'],
      ['u-9', 'not-a-number', '2024-02-01 00:00:00', '{}', 'true'],
    ]);
    const manifest = await putManifest([entry(good), entry(bad)]);

    const error = await failureOf(runner.transaction(load(manifest)));

    expect(error).toBeInstanceOf(PermanentWarehouseError);
    expect((error as PermanentWarehouseError).code).toBe('22P02');
    expect(error.message).toContain(`loading ${bad.url}`);
    expect(error.message).toMatch(/\(line 2, column amplitude_id\)/);
    expect(await loadedEvents()).toEqual([]);
  });

  it('reports a file that is not gzip although the statement says GZIP', async () => {
    const plain = await putPart('part-00000.csv.gz', PART_1, false);
    const manifest = await putManifest([entry(plain)]);

    const error = await failureOf(runner.transaction(load(manifest)));

    expect(error).toBeInstanceOf(PermanentWarehouseError);
    expect((error as PermanentWarehouseError).code).toBe('CopyFileCorrupt');
    expect(await loadedEvents()).toEqual([]);
  });

  it('reports a missing or malformed manifest, and a manifest outside the store', async () => {
    const missing = await failureOf(runner.transaction(load(store.url('manifests/copy/none.json'))));
    expect((missing as PermanentWarehouseError).code).toBe('CopyManifestMissing');

    await store.put('manifests/copy/bad.json', '{"entries": [{"url": 5}]}');
    const malformed = await failureOf(runner.transaction(load(store.url('manifests/copy/bad.json'))));
    expect((malformed as PermanentWarehouseError).code).toBe('CopyManifestInvalid');
    expect(malformed.message).toMatch(/entry 1 is malformed/);

    const outside = await failureOf(runner.transaction(load('s3://some-bucket/manifests/copy/x.json')));
    expect((outside as PermanentWarehouseError).code).toBe('CopySourceOutsideStore');
  });

  it('refuses a COPY it cannot carry out faithfully instead of passing it to PostgreSQL', async () => {
    const manifest = await putManifest([entry(await putPart('part-00000.csv.gz', PART_1))]);
    const error = await failureOf(
      runner.transaction([
        'CREATE TEMP TABLE "stage" (LIKE amplitude.events_1) ON COMMIT DROP',
        copySql(manifest, '"stage"', `${REDSHIFT_COPY_FORMAT_OPTIONS} FILLRECORD`),
      ]),
    );
    expect(error).toBeInstanceOf(PermanentWarehouseError);
    expect((error as PermanentWarehouseError).code).toBe('CopyStatementUnsupported');
    expect(error.message).toMatch(/Statement 2 of 2 .*FILLRECORD is not supported locally/);
  });
});

describe('PostgresRunner.startTransaction / describe', () => {
  beforeEach(async () => {
    await admin.query('DROP TABLE IF EXISTS jobs; CREATE TABLE jobs (id int)');
  });

  async function settle(statementId: string) {
    for (let i = 0; i < 200; i++) {
      const description = await runner.describe(statementId);
      if (description.status !== 'STARTED') return description;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`${statementId} did not finish`);
  }

  it('returns at once, reports STARTED while running, then FINISHED', async () => {
    const { statementId } = await runner.startTransaction([
      'SELECT pg_sleep(0.3)',
      'INSERT INTO jobs VALUES (1)',
    ]);

    expect(await runner.describe(statementId)).toEqual({ statementId, status: 'STARTED' });
    expect(await rowsOf('jobs')).toEqual([]);
    expect(await settle(statementId)).toEqual({ statementId, status: 'FINISHED' });
    expect(await rowsOf('jobs')).toEqual([{ id: 1 }]);
  });

  it('reports FAILED with the classified error text', async () => {
    const { statementId } = await runner.startTransaction([
      'INSERT INTO jobs VALUES (1)',
      'SELECT * FROM missing_table',
    ]);

    const description = await settle(statementId);

    expect(description.status).toBe('FAILED');
    expect(description.error).toMatch(/Statement 2 of 2 .*SQLSTATE 42P01.*setup-sql/);
    expect(await rowsOf('jobs')).toEqual([]);
    // A poller that only has the description classifies it the same way as transaction() would.
    const classified = warehouseErrorFromStatement(statementId, description.error!);
    expect(classified).toBeInstanceOf(PermanentWarehouseError);
    expect(classified.code).toBe('MissingObject');
  });

  it('reports a lock timeout in the background as FAILED, and its text classifies as retryable', async () => {
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE');
      const { statementId } = await runner.startTransaction([
        "SET LOCAL lock_timeout = '100ms'",
        'INSERT INTO jobs VALUES (1)',
      ]);
      const description = await settle(statementId);
      expect(description.status).toBe('FAILED');
      expect(warehouseErrorFromStatement(statementId, description.error!)).toBeInstanceOf(
        RetryableWarehouseError,
      );
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });

  it('returns the first statement again for a repeated client token, without running the work twice', async () => {
    const first = await runner.startTransaction(['INSERT INTO jobs VALUES (7)'], { clientToken: 'load-abc' });
    const again = await runner.startTransaction(['INSERT INTO jobs VALUES (7)'], { clientToken: 'load-abc' });
    const waited = await runner.transaction(['INSERT INTO jobs VALUES (7)'], { clientToken: 'load-abc' });

    expect(again.statementId).toBe(first.statementId);
    expect(waited).toEqual({ statementId: first.statementId, rowCounts: [1] });
    expect(await rowsOf('jobs')).toEqual([{ id: 7 }]);
  });

  it('answers an unknown statement id with a permanent error', async () => {
    await expect(runner.describe('pg-unknown')).rejects.toThrow(/unknown to this PostgreSQL runner/);
  });

  it('close() waits for work started in the background', async () => {
    const own = new PostgresRunner({ connectionString: db.url, store });
    const { statementId } = await own.startTransaction([
      'SELECT pg_sleep(0.2)',
      'INSERT INTO jobs VALUES (3)',
    ]);
    await own.close();
    expect(await own.describe(statementId)).toEqual({ statementId, status: 'FINISHED' });
    expect(await rowsOf('jobs')).toEqual([{ id: 3 }]);
    await expect(own.query('SELECT 1')).rejects.toThrow(/closed/);
  });
});

describe('PostgresRunner.query', () => {
  it('returns rows as objects typed the way the Data API returns them', async () => {
    const rows = await runner.query<{
      n: number;
      big: number;
      ts: string;
      doc: string;
      ok: boolean;
      nothing: null;
    }>(
      `SELECT 1 AS n, 9007199254740991::bigint AS big, '2024-01-31 12:00:00.5'::timestamp AS ts,
              '{"a": [1]}'::jsonb AS doc, true AS ok, NULL AS nothing`,
    );
    expect(rows).toEqual([
      {
        n: 1,
        big: 9007199254740991,
        ts: '2024-01-31 12:00:00.5',
        doc: '{"a": [1]}',
        ok: true,
        nothing: null,
      },
    ]);
  });

  it('classifies query errors', async () => {
    const error = await failureOf(runner.query('SELECT * FROM amplitude.export_loads'));
    expect(error).toBeInstanceOf(PermanentWarehouseError);
    expect(error.message).toMatch(/^Query failed in PostgreSQL \[SQLSTATE 42P01\]/);
  });
});
