import type { FailureClass } from './failure-class.ts';

/**
 * One alternative of a rule: a fragment of the error text, or fragments that must appear in
 * this order. Plain case-sensitive text (no regular expressions) so that the backfill state
 * machine can test the very same rules with `StringMatches` (`*a*b*`).
 */
export type TextPattern = string | readonly string[];

export interface StatementRule {
  readonly code: string;
  readonly failureClass: FailureClass;
  /** Any one alternative matching is enough. */
  readonly patterns: readonly TextPattern[];
  /** What the operator should do, appended to the warehouse's own error text. */
  readonly advice: string;
}

const RETRIED =
  'Nothing was committed and no batch is blamed; the load is retried on the next run. If it keeps failing, the batches stay pending and the pending-batch alarm fires.';

/**
 * How the loader and the backfill react to the error text of a FAILED load (Redshift's text
 * from the Data API, or the PostgreSQL runner's message). The first matching rule wins, so
 * the order matters: an S3 error during COPY also says "does not exist" or "denied", and
 * those must be told apart before the generic rules. The texts these rules were written
 * from, with their sources, are in test/shared/warehouse/error-catalogue.json.
 */
export const STATEMENT_RULES: readonly StatementRule[] = [
  {
    code: 'CopyKmsAccessDenied',
    failureClass: 'systemic',
    patterns: ['kms:Decrypt', 'KMS key', 'customer master key', 'KMS.AccessDenied'],
    advice:
      "COPY could not decrypt the staged files. Allow the COPY IAM role to decrypt with the staging bucket's key (in the key policy and the role policy), then retry.",
  },
  {
    code: 'CopyS3AccessDenied',
    failureClass: 'systemic',
    patterns: [
      'Access Denied',
      'AccessDenied',
      'not authorized to assume',
      'not authorized to get credentials',
      'is not authorized to perform',
    ],
    advice:
      'COPY could not read the staged files from S3. Associate the COPY IAM role of this stack with the cluster or workgroup (Redshift console > Permissions > Associate IAM role), check that its trust policy allows redshift.amazonaws.com and that it may read staging/ and manifests/, then retry.',
  },
  {
    code: 'CopyManifestPath',
    failureClass: 'systemic',
    patterns: ['COPY with MANIFEST parameter requires full path'],
    advice:
      'Redshift could not read the COPY manifest or a file it lists. The manifests this pipeline writes list full object paths, so this usually means the COPY role may not read the staging bucket (s3:GetObject, and decrypt with the bucket key). Fix the role, then retry.',
  },
  {
    code: 'CopyManifestMissing',
    failureClass: 'transient',
    patterns: ['Problem reading manifest file', ['COPY manifest ', 'does not exist']],
    advice: `The load's own COPY manifest was not found; the next run writes a new one. ${RETRIED}`,
  },
  {
    code: 'CopyStagedFileMissing',
    failureClass: 'batch',
    patterns: [
      'Error NoSuchKey',
      'The specified key does not exist',
      'COPY failed: mandatory file',
      'COPY failed: file',
    ],
    advice:
      'A staged part of this batch is missing or damaged (expired by a lifecycle rule, or deleted). The attempt counts against the batch; after the allowed attempts it is moved to manifests/failed/. Stage the batch again from its landing files.',
  },
  {
    code: 'CopyS3Unavailable',
    failureClass: 'transient',
    patterns: [
      'Status 500,',
      'Status 503,',
      'Error SlowDown',
      'Error InternalError',
      'Error ServiceUnavailable',
      'COPY failed while reading',
    ],
    advice: `S3 answered COPY with a server error. ${RETRIED}`,
  },
  {
    code: 'CopyRejectedData',
    failureClass: 'batch',
    // Redshift's own sentence ("Load into table 't' failed. Check 'sys_load_error_detail' system
    // table for details."), not the bare table names: a query OF those tables that fails
    // (missing view, no privilege) must not read as a batch's rejected row.
    patterns: ["Check 'stl_load_errors'", "Check 'sys_load_error_detail'", 'SQLSTATE 22', 'SQLSTATE 23'],
    advice:
      'COPY rejected a staged row. The file, line, column and reason are in the failure report; the attempt counts against the batch, and after the allowed attempts it is moved to manifests/failed/ without blocking the others. Report it as a bug with the failure report.',
  },
  {
    code: 'SerializableIsolationViolation',
    failureClass: 'transient',
    patterns: ['erializable isolation', 'could not serialize access', 'SQLSTATE 40001'],
    advice: `Another transaction changed the same tables at the same time. ${RETRIED}`,
  },
  {
    code: 'ConcurrentTransactionConflict',
    failureClass: 'transient',
    patterns: ['conflict with concurrent transaction'],
    advice: `Another transaction changed the same table at the same time. ${RETRIED}`,
  },
  {
    code: 'LockConflict',
    failureClass: 'transient',
    patterns: [
      'deadlock detected',
      'could not obtain lock',
      'lock timeout',
      'SQLSTATE 40P01',
      'SQLSTATE 55P03',
    ],
    advice: `Another session held a lock on the same tables. ${RETRIED}`,
  },
  {
    code: 'WlmAbort',
    failureClass: 'transient',
    patterns: ['cancelled by WLM'],
    advice: `A workload management (WLM) query monitoring rule aborted the load. Exempt the pipeline's user from that rule or raise its limit. ${RETRIED}`,
  },
  {
    code: 'StatementCancelled',
    failureClass: 'transient',
    patterns: [
      'statement timeout',
      "cancelled on user's request",
      'canceling statement due to user request',
      'SQLSTATE 57014',
    ],
    advice: `The load was cancelled (statement timeout or an operator). If statement_timeout is set for the pipeline's user, raise it above the load duration. ${RETRIED}`,
  },
  {
    code: 'DiskFull',
    failureClass: 'systemic',
    patterns: ['Disk Full', 'disk full', 'could not extend file', 'SQLSTATE 53100'],
    advice:
      'The warehouse ran out of disk space. Free space (VACUUM DELETE, drop unused tables) or resize the cluster, then retry; no batch was blamed.',
  },
  {
    code: 'AuthenticationFailed',
    failureClass: 'systemic',
    patterns: ['password authentication failed', 'authentication failed for user', 'no pg_hba.conf entry'],
    advice:
      "Redshift refused the database user's credentials. Set the user's current password in the Secrets Manager secret (keys username and password), then retry.",
  },
  {
    code: 'DatabaseMissing',
    failureClass: 'systemic',
    patterns: [['database "', 'does not exist'], 'SQLSTATE 3D000'],
    advice:
      'The database named in the configuration is missing. Fix redshiftDatabase (the stack context) or create the database, then retry.',
  },
  {
    code: 'PermissionDenied',
    failureClass: 'systemic',
    patterns: ['permission denied', 'must be owner of', 'SQLSTATE 42501'],
    advice:
      'The database user lacks a privilege. Run the grants printed by `redshift-export setup-sql` as a superuser, then retry.',
  },
  {
    code: 'MissingObject',
    failureClass: 'systemic',
    patterns: ['does not exist', 'nonexistent table', 'SQLSTATE 42P01', 'SQLSTATE 3F000', 'SQLSTATE 42703'],
    advice:
      'A schema or table the export needs is missing. Run the SQL printed by `redshift-export setup-sql` as a superuser, then retry.',
  },
  {
    code: 'SqlRejected',
    failureClass: 'systemic',
    patterns: ['syntax error', 'Statement is too large', 'SQLSTATE 42601'],
    advice:
      'The warehouse refused the SQL text: a bug in the export. Report it with this message; retry after a fix.',
  },
  {
    code: 'WarehouseUnavailable',
    failureClass: 'transient',
    patterns: [
      'could not connect',
      'onnect timeout',
      'Connection to a database failed',
      'could not reach PostgreSQL',
      'onnection reset',
      'onnection refused',
      'onnection closed',
      'server closed the connection',
      'terminating connection',
      'temporarily unavailable',
      'not available',
      'is paused',
      'resizing',
      'being modified',
      'rebooting',
      'nsufficient capacity',
      'SQLSTATE 08',
      'SQLSTATE 53',
      'SQLSTATE 57P0',
    ],
    advice: `The warehouse was not reachable or had no capacity (paused, resizing, rebooting, or a Serverless workgroup at its limit). ${RETRIED}`,
  },
];

/** The safe default for a text no rule knows. */
export const UNRECOGNIZED_RULE: StatementRule = {
  code: 'UnrecognizedWarehouseError',
  failureClass: 'transient',
  patterns: [],
  advice: `This error is not in the export's catalogue of known warehouse errors. ${RETRIED} Report the message so it can be classified.`,
};

function patternMatches(text: string, pattern: TextPattern): boolean {
  if (typeof pattern === 'string') return text.includes(pattern);
  let from = 0;
  for (const part of pattern) {
    const at = text.indexOf(part, from);
    if (at < 0) return false;
    from = at + part.length;
  }
  return true;
}

/** The first rule that matches the text, or the safe default. */
export function statementRuleFor(text: string): StatementRule {
  return (
    STATEMENT_RULES.find((rule) => rule.patterns.some((pattern) => patternMatches(text, pattern))) ??
    UNRECOGNIZED_RULE
  );
}

/** A pattern as a Step Functions `StringMatches` glob (`*` is the only wildcard; `\` escapes). */
export function patternGlob(pattern: TextPattern): string {
  const parts = typeof pattern === 'string' ? [pattern] : pattern;
  return `*${parts.map((part) => part.replace(/[\\*]/g, (c) => `\\${c}`)).join('*')}*`;
}
