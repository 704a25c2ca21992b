import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './postgres.ts';

describe('embedded PostgreSQL harness', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase('harness');
  });
  afterAll(async () => {
    await db.drop();
  });

  it('serves a real PostgreSQL database that keeps what is written', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query('CREATE TABLE t (id int, body jsonb)');
      await client.query(`INSERT INTO t VALUES (1, '{"a": [1, 2]}')`);
      const { rows } = await client.query('SELECT id, body, version() AS v FROM t');
      expect(rows).toEqual([{ id: 1, body: { a: [1, 2] }, v: expect.stringMatching(/^PostgreSQL \d+/) }]);
    } finally {
      await client.end();
    }
  });
});
