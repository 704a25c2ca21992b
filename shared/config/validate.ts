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

/**
 * The candidate nearest to `given` by edit distance (ignoring case), when it is within
 * `maxDistance`: the "did you mean" of a misspelt key or flag.
 */
export function nearestName(
  given: string,
  candidates: readonly string[],
  maxDistance: number,
): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(given.toLowerCase(), candidate.toLowerCase());
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  return best && best.distance <= maxDistance ? best.name : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}
