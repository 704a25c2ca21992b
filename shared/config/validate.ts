/** Thrown when configuration is wrong; the message names the key and what is allowed. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export type Source = Readonly<Record<string, string | undefined>>;

export function requireString(source: Source, key: string, what: string): string {
  const value = source[key]?.trim();
  if (!value) throw new ConfigError(`${key} is required: ${what}.`);
  return value;
}

export function optionalString(source: Source, key: string): string | undefined {
  const value = source[key]?.trim();
  return value ? value : undefined;
}

export function integerIn(source: Source, key: string, fallback: number, min: number, max: number): number {
  const raw = source[key]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw))
    throw new ConfigError(`${key} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}.`);
  const value = Number(raw);
  if (value < min || value > max)
    throw new ConfigError(`${key} must be from ${min} to ${max}, got ${value}.`);
  return value;
}

export function projectIdFrom(source: Source, key: string): string {
  const value = requireString(source, key, 'the numeric Amplitude project ID (Settings > Projects)');
  if (!/^\d{1,20}$/.test(value))
    throw new ConfigError(`${key} must be the numeric Amplitude project ID, got ${JSON.stringify(value)}.`);
  return value;
}

export function orgIdFrom(source: Source, key: string): string | undefined {
  const value = optionalString(source, key);
  if (value !== undefined && !/^\d{1,20}$/.test(value)) {
    throw new ConfigError(
      `${key} must be the numeric Amplitude organization ID, got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

/** Unquoted Redshift/PostgreSQL identifier we are willing to create: lower case, 1-127 bytes. */
export const IDENTIFIER_PATTERN = /^[a-z_][a-z0-9_]{0,126}$/;

export function identifierFrom(source: Source, key: string, fallback: string): string {
  const value = optionalString(source, key) ?? fallback;
  if (!IDENTIFIER_PATTERN.test(value)) {
    throw new ConfigError(
      `${key} must be a lower-case identifier (letters, digits, underscore; not starting with a digit; at most 127), got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

export function prefixFrom(source: Source, key: string): string {
  const value = optionalString(source, key) ?? '';
  if (value.startsWith('/'))
    throw new ConfigError(`${key} must not start with "/", got ${JSON.stringify(value)}.`);
  return value;
}
