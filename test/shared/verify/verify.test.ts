import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineSettings } from '#shared/config/pipeline.ts';
import { warehouseDdl } from '#shared/sql/ddl.ts';
import { FileSystemObjectStore } from '#shared/storage/fs-store.ts';
import { runVerify, type VerifyReport } from '#shared/verify/verify.ts';
import { PostgresRunner } from '#shared/warehouse/postgres.ts';
import { warehouseErrorFromStatement } from '#shared/warehouse/redshift-errors.ts';
import type { SqlRunner } from '#shared/warehouse/sql-runner.ts';
import { createTestDatabase } from '#test/support/postgres.ts';

const settings: Pick<PipelineSettings, 'projectId' | 'feeds' | 'schema' | 'copyRoleArn'> = {
  projectId: '187520',
  feeds: ['events', 'merge_ids'],
  schema: 'amplitude',
  copyRoleArn: 'arn:aws:iam::123456789012:role/copy-role',
};
const clock = () => new Date('2026-03-04T05:06:07.891Z');
const SETUP = 'npx redshift-export setup-sql --dialect postgres --schema amplitude --project-id 187520';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let admin: pg.Client;
let dir: string;
let store: FileSystemObjectStore;
const runners: PostgresRunner[] = [];
const roles: string[] = [];

function runnerAs(user?: { name: string; password: string }): PostgresRunner {
  const url = new URL(db.url);
  if (user) {
    url.username = user.name;
    url.password = user.password;
  }
  const runner = new PostgresRunner({ connectionString: url.toString(), store });
  runners.push(runner);
  return runner;
}

async function createLoginRole(): Promise<{ name: string; password: string }> {
  const role = {
    name: `verify_${randomBytes(4).toString('hex')}`,
    password: randomBytes(12).toString('hex'),
  };
  await admin.query(`CREATE ROLE ${role.name} LOGIN PASSWORD '${role.password}'`);
  roles.push(role.name);
  return role;
}

function check(report: VerifyReport, name: string) {
  const found = report.checks.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no ${name} check in ${JSON.stringify(report.checks)}`);
  return found;
}

async function filesLeftUnder(prefix: string): Promise<string[]> {
  try {
    return await readdir(join(dir, prefix), { recursive: true });
  } catch {
    return [];
  }
}

beforeAll(async () => {
  db = await createTestDatabase('verify');
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  dir = await mkdtemp(join(tmpdir(), 'verify-'));
  store = new FileSystemObjectStore(dir);
  for (const sql of warehouseDdl('postgres', settings)) await admin.query(sql);
});

afterAll(async () => {
  await Promise.allSettled(runners.map((runner) => runner.close()));
  await admin?.end();
  await db?.drop();
  // Roles belong to the server, not the dropped database.
  const server = new URL(db.url);
  server.pathname = '/postgres';
  const cleanup = new pg.Client({ connectionString: server.toString() });
  await cleanup.connect();
  for (const role of roles) await cleanup.query(`DROP ROLE IF EXISTS ${role}`);
  await cleanup.end();
  await rm(dir, { recursive: true, force: true });
});

describe('runVerify on PostgreSQL', () => {
  it('reports tables missing, with the setup SQL as the fix, for a schema nobody set up', async () => {
    const report = await runVerify({
      store,
      runner: runnerAs(),
      settings: { ...settings, schema: 'not_set_up' },
      clock,
      setupSqlCommand: SETUP,
    });

    expect(report.ok).toBe(false);
    expect(check(report, 'connection').ok).toBe(true);
    const tables = check(report, 'tables');
    expect(tables.ok).toBe(false);
    expect(tables.detail).toBe(
      'Missing in schema not_set_up: events_187520, merge_ids_187520, export_loads, erasures, erased_amplitude_ids.',
    );
    expect(tables.fix).toContain(SETUP);
    expect(report.checks.map((c) => c.name)).not.toContain('copy');
  });

  it('passes every check once the setup SQL ran, COPYing the test batch and cleaning it up', async () => {
    const report = await runVerify({
      store,
      runner: runnerAs(),
      settings,
      clock,
      secret: { passwordIsPlaceholder: false },
    });

    expect(report.checks.map((c) => [c.name, c.ok])).toEqual([
      ['secret', true],
      ['connection', true],
      ['tables', true],
      ['privileges', true],
      ['staging', true],
      ['copy', true],
    ]);
    expect(report.ok).toBe(true);
    expect(
      (await filesLeftUnder('verify')).filter((name) => name.endsWith('.gz') || name.endsWith('.json')),
    ).toEqual([]);
    const { rows } = await admin.query('SELECT count(*)::int AS n FROM amplitude.events_187520');
    expect(rows[0].n).toBe(0);
  });

  it('names each missing privilege for a user without grants, and the grants as the fix', async () => {
    const role = await createLoginRole();

    const report = await runVerify({
      store,
      runner: runnerAs(role),
      settings,
      clock,
      setupSqlCommand: SETUP,
    });

    expect(report.ok).toBe(false);
    expect(check(report, 'tables').ok).toBe(true);
    const privileges = check(report, 'privileges');
    expect(privileges.ok).toBe(false);
    expect(privileges.detail).toContain('USAGE on schema amplitude');
    expect(privileges.detail).not.toContain('TEMP on the database');
    expect(privileges.detail).toContain('SELECT and INSERT on amplitude.events_187520');
    expect(privileges.fix).toContain(`grants of the setup SQL as a superuser: ${SETUP}`);
  });

  it('names the table grants a user with schema USAGE lacks', async () => {
    const role = await createLoginRole();
    await admin.query(`GRANT USAGE ON SCHEMA amplitude TO ${role.name}`);
    await admin.query(`GRANT SELECT ON amplitude.events_187520 TO ${role.name}`);

    const report = await runVerify({
      store,
      runner: runnerAs(role),
      settings,
      clock,
      setupSqlCommand: SETUP,
    });

    expect(check(report, 'privileges').detail).toBe(
      'The database user lacks: INSERT on amplitude.events_187520; DELETE on amplitude.events_187520; SELECT on amplitude.merge_ids_187520; INSERT on amplitude.merge_ids_187520; DELETE on amplitude.merge_ids_187520; SELECT on amplitude.export_loads; INSERT on amplitude.export_loads; UPDATE on amplitude.export_loads; SELECT on amplitude.erasures; INSERT on amplitude.erasures; SELECT on amplitude.erased_amplitude_ids; INSERT on amplitude.erased_amplitude_ids.',
    );
  });

  it('reports a missing TEMP privilege, which the load transaction needs for its stage table', async () => {
    const role = await createLoginRole();
    await admin.query(`GRANT USAGE ON SCHEMA amplitude TO ${role.name}`);
    await admin.query(
      `GRANT SELECT, INSERT ON amplitude.events_187520, amplitude.merge_ids_187520, amplitude.export_loads, amplitude.erasures, amplitude.erased_amplitude_ids TO ${role.name}`,
    );
    await admin.query(`GRANT DELETE ON amplitude.events_187520, amplitude.merge_ids_187520 TO ${role.name}`);
    await admin.query(`GRANT UPDATE ON amplitude.export_loads TO ${role.name}`);
    await admin.query(`REVOKE TEMPORARY ON DATABASE ${new URL(db.url).pathname.slice(1)} FROM PUBLIC`);
    try {
      const report = await runVerify({
        store,
        runner: runnerAs(role),
        settings,
        clock,
        setupSqlCommand: SETUP,
      });

      const privileges = check(report, 'privileges');
      expect(privileges.ok).toBe(false);
      expect(privileges.detail).toBe('The database user lacks: TEMP on the database.');
    } finally {
      await admin.query(`GRANT TEMPORARY ON DATABASE ${new URL(db.url).pathname.slice(1)} TO PUBLIC`);
    }
  });

  it('stops at the secret when its password is still the generated placeholder, without touching the warehouse', async () => {
    const unreachable = new PostgresRunner({
      connectionString: 'postgres://nobody:x@127.0.0.1:1/none',
      store,
    });
    runners.push(unreachable);

    const report = await runVerify({
      store,
      runner: unreachable,
      settings,
      clock,
      secret: { passwordIsPlaceholder: true },
    });

    expect(report).toEqual({
      ok: false,
      checks: [
        expect.objectContaining({
          name: 'secret',
          ok: false,
          fix: expect.stringContaining('passwordIsPlaceholder'),
        }),
      ],
    });
  });

  it('reports refused credentials as an authentication failure without echoing the password', async () => {
    const role = await createLoginRole();
    const wrongPassword = `wrong-${randomBytes(6).toString('hex')}`;

    const report = await runVerify({
      store,
      runner: runnerAs({ name: role.name, password: wrongPassword }),
      settings,
      clock,
    });

    const connection = check(report, 'connection');
    expect(connection.ok).toBe(false);
    expect(connection.fix).toMatch(/refused the user's credentials/);
    expect(JSON.stringify(report)).not.toContain(wrongPassword);
  });

  it('reports a COPY that Redshift refuses for the role as "associate the COPY role", with the command', async () => {
    const real = runnerAs();
    // Everything runs on PostgreSQL except the COPY transaction, which fails the way the Data
    // API reports a role that is not associated with the cluster.
    const refusing: SqlRunner = {
      dialect: real.dialect,
      query: (sql) => real.query(sql),
      describe: (id) => real.describe(id),
      loadErrorDetails: (failed) => real.loadErrorDetails(failed),
      startTransaction: (statements, options) => real.startTransaction(statements, options),
      close: () => real.close(),
      transaction: async (statements) => {
        if (statements.some((sql) => sql.startsWith('COPY '))) {
          throw warehouseErrorFromStatement(
            'stmt-1',
            'User arn:aws:redshift:eu-west-1:123456789012:dbuser:analytics/amplitude_export is not authorized to assume IAM Role arn:aws:iam::123456789012:role/copy-role',
          );
        }
        return real.transaction(statements);
      },
    };
    const hint = 'aws redshift modify-cluster-iam-roles --cluster-identifier analytics --add-iam-roles <arn>';

    const report = await runVerify({ store, runner: refusing, settings, clock, associateRoleHint: hint });

    expect(check(report, 'staging').ok).toBe(true);
    const copy = check(report, 'copy');
    expect(copy.ok).toBe(false);
    expect(copy.detail).toContain('not authorized to assume IAM Role');
    expect(copy.fix).toContain(`Associate the role with the cluster or namespace (${hint})`);
    expect((await filesLeftUnder('verify')).filter((name) => name.endsWith('.gz'))).toEqual([]);
  });
});
