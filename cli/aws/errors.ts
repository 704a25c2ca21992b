import { sanitizeText } from '#shared/observability/redact.ts';
import { UsageError } from '../io.ts';

/** The SDK's error name (`ThrottlingException`, `ValidationError`, ...), or `Error`. */
export function awsErrorName(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'SlowDown',
  'ProvisionedThroughputExceededException',
]);

export function isThrottling(error: unknown): boolean {
  return THROTTLING.has(awsErrorName(error));
}

const CREDENTIALS = new Set([
  'CredentialsProviderError',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'InvalidSignatureException',
  'TokenRefreshRequired',
]);

const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'AuthorizationError', 'Forbidden']);

/**
 * A failed AWS call as the operator should read it: what was attempted, what went wrong,
 * what to do. Problems the operator fixes on their side (credentials, region, permissions)
 * are `UsageError`s, printed without a stack trace.
 *
 * `action` names the call ("read stack outputs (cloudformation:DescribeStacks)"), so the
 * permission to add is in the message.
 */
export function explainAwsFailure(error: unknown, action: string, region: string | undefined): Error {
  if (error instanceof UsageError) return error;
  const name = awsErrorName(error);
  const detail = sanitizeText(error instanceof Error ? error.message : String(error));
  if (CREDENTIALS.has(name)) {
    return new UsageError(
      `Could not ${action}: AWS did not accept or could not find your credentials (${name}: ${detail}). ` +
        'Sign in first (aws sso login, or set AWS_PROFILE / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), ' +
        'check with `aws sts get-caller-identity`, then run the command again.',
    );
  }
  if (/Region is missing/i.test(detail)) {
    return new UsageError(
      `Could not ${action}: no AWS region is set. Pass --region with the region the stack is deployed in ` +
        '(the region of your Redshift), or set AWS_REGION.',
    );
  }
  if (ACCESS_DENIED.has(name)) {
    return new UsageError(
      `Could not ${action} in ${region ?? 'the configured region'}: access denied (${detail}). ` +
        'Ask for that permission on the stack’s resources, or use a role that has it.',
    );
  }
  if (isThrottling(error)) {
    return new Error(
      `Could not ${action}: AWS kept throttling the requests (${name}) after several retries. Wait a minute and run the command again.`,
    );
  }
  return new Error(`Could not ${action}: ${name}: ${detail}`);
}
