import { describe, expect, it } from 'vitest';
import { POSTGRES_COPY_OPTIONS, REDSHIFT_COPY_FORMAT_OPTIONS } from '#shared/format/csv.ts';
import {
  CopyStatementError,
  isCopyStatement,
  parseRedshiftCopy,
  postgresCopyFromStdin,
  postgresCopyOptions,
} from '#shared/warehouse/redshift-copy.ts';

const ROLE = 'arn:aws:iam::111122223333:role/redshift-export-copy';
const MANIFEST = 's3://staging-bucket/manifests/copy/load-1.json';

describe('isCopyStatement', () => {
  it('recognises COPY as the first word only', () => {
    expect(isCopyStatement('COPY t FROM x')).toBe(true);
    expect(isCopyStatement('  -- load\n /* stage */ copy t FROM x')).toBe(true);
    expect(isCopyStatement("INSERT INTO t VALUES ('COPY')")).toBe(false);
    expect(isCopyStatement('SELECT * FROM copy_history')).toBe(false);
    expect(isCopyStatement('COPYRIGHT')).toBe(false);
  });
});

describe('parseRedshiftCopy', () => {
  it("reads the statement the load SQL writes with the CSV module's options", () => {
    const sql = `COPY "stage_events" ("uuid", "event_type", "user") FROM '${MANIFEST}' IAM_ROLE '${ROLE}' MANIFEST ${REDSHIFT_COPY_FORMAT_OPTIONS}`;

    const copy = parseRedshiftCopy(sql);

    expect(copy).toEqual({
      table: '"stage_events"',
      columns: ['"uuid"', '"event_type"', '"user"'],
      manifestUrl: MANIFEST,
      iamRole: ROLE,
      gzip: true,
      delimiter: ',',
      quote: '"',
      nullAs: '~NULL~',
      ignoreHeader: 0,
      emptyAsNull: false,
    });
    // The PostgreSQL side of the CSV module's contract and ours must be the same options.
    expect(`(${postgresCopyOptions(copy).join(', ')})`).toBe(POSTGRES_COPY_OPTIONS);
    expect(postgresCopyFromStdin(copy)).toBe(
      `COPY "stage_events" ("uuid", "event_type", "user") FROM STDIN ${POSTGRES_COPY_OPTIONS}`,
    );
  });

  it('accepts schema-qualified names, IAM_ROLE default, lower case, comments and a trailing semicolon', () => {
    const copy = parseRedshiftCopy(
      `copy amplitude.events_123 (uuid, app) -- columns\n from 'file:///tmp/x/m.json' iam_role default manifest csv gzip ignoreheader as 1 compupdate off statupdate off region 'eu-west-1' maxerror 0 acceptinvchars truncatecolumns;`,
    );
    expect(copy).toMatchObject({
      table: 'amplitude.events_123',
      columns: ['uuid', 'app'],
      manifestUrl: 'file:///tmp/x/m.json',
      iamRole: 'default',
      gzip: true,
      ignoreHeader: 1,
    });
    expect(copy.nullAs).toBeUndefined();
    expect(postgresCopyOptions(copy)).toEqual([
      'FORMAT csv',
      `DELIMITER ','`,
      `QUOTE '"'`,
      "ENCODING 'UTF8'",
      'HEADER true',
    ]);
  });

  it('keeps doubled quotes in literals and quoted identifiers, and doubles them again for PostgreSQL', () => {
    const copy = parseRedshiftCopy(
      `COPY "we""ird" ("a") FROM 's3://b/it''s.json' IAM_ROLE 'r' MANIFEST CSV QUOTE AS '''' DELIMITER '|' NULL 'it''s null'`,
    );
    expect(copy.table).toBe('"we""ird"');
    expect(copy.manifestUrl).toBe("s3://b/it's.json");
    expect(copy.quote).toBe("'");
    expect(copy.nullAs).toBe("it's null");
    expect(postgresCopyFromStdin(copy)).toBe(
      `COPY "we""ird" ("a") FROM STDIN (FORMAT csv, DELIMITER '|', QUOTE '''', NULL 'it''s null', ENCODING 'UTF8')`,
    );
  });

  it('maps EMPTYASNULL to FORCE_NULL on the listed columns, so a quoted "" is NULL as well', () => {
    const copy = parseRedshiftCopy(
      `COPY t (a, "b") FROM '${MANIFEST}' IAM_ROLE 'r' MANIFEST CSV EMPTYASNULL`,
    );
    expect(postgresCopyOptions(copy)).toContain('FORCE_NULL (a, "b")');
  });

  const refused: [string, string, RegExp][] = [
    ['no IAM_ROLE', `COPY t FROM '${MANIFEST}' MANIFEST CSV`, /no IAM_ROLE clause/],
    ['no MANIFEST', `COPY t FROM 's3://b/prefix/' IAM_ROLE '${ROLE}' CSV`, /no MANIFEST option/],
    ['no CSV', `COPY t FROM '${MANIFEST}' IAM_ROLE '${ROLE}' MANIFEST`, /no CSV/],
    [
      'JSON format',
      `COPY t FROM '${MANIFEST}' IAM_ROLE '${ROLE}' MANIFEST FORMAT AS JSON 'auto'`,
      /Only FORMAT CSV/,
    ],
    [
      'another compression',
      `COPY t FROM '${MANIFEST}' IAM_ROLE '${ROLE}' MANIFEST CSV ZSTD`,
      /ZSTD is not supported/,
    ],
    ['unknown option', `COPY t FROM '${MANIFEST}' IAM_ROLE '${ROLE}' MANIFEST CSV FILLRECORD`, /FILLRECORD/],
    [
      'MAXERROR above 0',
      `COPY t FROM '${MANIFEST}' IAM_ROLE '${ROLE}' MANIFEST CSV MAXERROR 10`,
      /MAXERROR 10/,
    ],
    [
      'custom TIMEFORMAT',
      `COPY t FROM '${MANIFEST}' IAM_ROLE '${ROLE}' MANIFEST CSV TIMEFORMAT 'epochsecs'`,
      /TIMEFORMAT/,
    ],
    [
      'keys instead of a role',
      `COPY t FROM '${MANIFEST}' CREDENTIALS 'aws_access_key_id=x' MANIFEST CSV`,
      /CREDENTIALS/,
    ],
    [
      'duplicate option',
      `COPY t FROM '${MANIFEST}' IAM_ROLE '${ROLE}' MANIFEST CSV GZIP GZIP`,
      /GZIP is given twice/,
    ],
    [
      'EMPTYASNULL with NULL AS',
      `COPY t (a) FROM '${MANIFEST}' IAM_ROLE 'r' MANIFEST CSV NULL AS 'x' EMPTYASNULL`,
      /EMPTYASNULL together with NULL AS/,
    ],
    ['unterminated literal', `COPY t FROM '${MANIFEST} IAM_ROLE 'r'`, /Unterminated string literal|Expected/],
    ['FROM without a literal', `COPY t FROM STDIN`, /manifest URL after FROM/],
    [
      'two statements',
      `COPY t FROM '${MANIFEST}' IAM_ROLE 'r' MANIFEST CSV; DROP TABLE t`,
      /COPY option|Expected/,
    ],
    [
      'a stray character',
      `COPY t FROM '${MANIFEST}' IAM_ROLE 'r' MANIFEST CSV @`,
      /Unexpected character "@"/,
    ],
  ];

  it.each(refused)('refuses a statement with %s, saying what it understands', (_name, sql, reason) => {
    let thrown: unknown;
    try {
      parseRedshiftCopy(sql);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(CopyStatementError);
    expect((thrown as Error).message).toMatch(reason);
    expect((thrown as Error).message).toMatch(
      /^The local PostgreSQL runner cannot carry out this COPY statement/,
    );
    expect((thrown as Error).message).toContain("FROM '<manifest url>' IAM_ROLE");
  });
});
