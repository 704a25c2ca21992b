import { inspect } from 'node:util';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError } from '../../config/validate.ts';

const REDACTED = '[redacted Amplitude API credentials]';

/**
 * The project's API key and secret key. The values stay in private fields: logging, JSON or
 * `inspect` of this object prints a placeholder, so a stray `logger.info({ api })` leaks nothing.
 */
export class ExportApiCredentials {
  readonly #authorization: string;
  readonly #values: readonly string[];

  constructor(apiKey: string, secretKey: string) {
    if (!apiKey || !secretKey) {
      throw new ConfigError(
        'The Amplitude Export API needs both the project API key and its secret key (Amplitude: Settings > Projects > <project> > General).',
      );
    }
    this.#authorization = `Basic ${Buffer.from(`${apiKey}:${secretKey}`, 'utf8').toString('base64')}`;
    this.#values = [apiKey, secretKey, this.#authorization.slice('Basic '.length)];
  }

  /** The `Authorization` header value. Only the HTTP request may see it. */
  authorization(): string {
    return this.#authorization;
  }

  /**
   * `text` with every credential (and their base64 form) replaced, for error messages. A value
   * shorter than 8 characters (a mistyped key) is replaced only where it stands alone: cut out
   * of every word it would garble the message ("f[redacted]iled" for a key "a").
   */
  redact(text: string): string {
    let result = text;
    for (const value of this.#values) {
      if (value.length >= 8) result = result.split(value).join('[redacted]');
      else {
        const escaped = value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        result = result.replace(new RegExp(`(?<![A-Za-z0-9])${escaped}(?![A-Za-z0-9])`, 'g'), '[redacted]');
      }
    }
    return result;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

/** Gives the credentials for each request; may cache and refresh them (rotated secrets). */
export type CredentialsProvider = () => Promise<ExportApiCredentials>;

/** `AMPLITUDE_API_KEY` and `AMPLITUDE_SECRET_KEY`, the names the CLI reads. */
export const CREDENTIAL_ENV = {
  apiKey: 'AMPLITUDE_API_KEY',
  secretKey: 'AMPLITUDE_SECRET_KEY',
} as const;

export function credentialsFromEnv(env: Readonly<Record<string, string | undefined>>): ExportApiCredentials {
  const apiKey = env[CREDENTIAL_ENV.apiKey]?.trim();
  const secretKey = env[CREDENTIAL_ENV.secretKey]?.trim();
  const missing = [
    ...(apiKey ? [] : [CREDENTIAL_ENV.apiKey]),
    ...(secretKey ? [] : [CREDENTIAL_ENV.secretKey]),
  ];
  if (missing.length > 0) {
    throw new ConfigError(
      `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set: export the Amplitude project's API key and secret key (Settings > Projects > <project> > General) in these environment variables.`,
    );
  }
  return new ExportApiCredentials(apiKey!, secretKey!);
}

/**
 * Reads `{"apiKey": "...", "secretKey": "..."}` from a Secrets Manager secret. Error messages
 * name the secret and the missing keys, never a value (JSON.parse's own message quotes the
 * text, so it is not passed on).
 */
export async function readCredentialsSecret(
  client: SecretsManagerClient,
  secretArn: string,
): Promise<ExportApiCredentials> {
  const output = await client.send(new GetSecretValueCommand({ SecretId: secretArn }));
  const text =
    output.SecretString ??
    (output.SecretBinary ? Buffer.from(output.SecretBinary).toString('utf8') : undefined);
  const expected = 'a JSON object {"apiKey": "<project API key>", "secretKey": "<project secret key>"}';
  if (text === undefined) {
    throw new ConfigError(`Secret ${secretArn} has no value; store ${expected} in it.`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ConfigError(`Secret ${secretArn} is not valid JSON; store ${expected} in it.`);
  }
  const record = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const missing = ['apiKey', 'secretKey'].filter(
    (key) => typeof record[key] !== 'string' || (record[key] as string).trim() === '',
  );
  if (missing.length > 0) {
    throw new ConfigError(
      `Secret ${secretArn} lacks ${missing.join(' and ')} (keys present: ${Object.keys(record).join(', ') || 'none'}); store ${expected} in it.`,
    );
  }
  return new ExportApiCredentials((record.apiKey as string).trim(), (record.secretKey as string).trim());
}

/**
 * Credentials from a secret, read on first use and again after `ttlMs`, so a rotated key is
 * picked up by warm Lambda containers without a redeploy.
 */
export function secretCredentials(
  client: SecretsManagerClient,
  secretArn: string,
  options: { readonly ttlMs?: number; readonly now?: () => number } = {},
): CredentialsProvider {
  const ttlMs = options.ttlMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;
  let cached: { readonly at: number; readonly value: Promise<ExportApiCredentials> } | undefined;
  return () => {
    if (!cached || now() - cached.at >= ttlMs) {
      const value = readCredentialsSecret(client, secretArn);
      const entry = { at: now(), value };
      cached = entry;
      // A failed read is not cached: the next request asks Secrets Manager again.
      value.catch(() => {
        if (cached === entry) cached = undefined;
      });
    }
    return cached.value;
  };
}
