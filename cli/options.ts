import { type ParseArgsConfig, parseArgs } from 'node:util';
import { nearestName } from '#shared/config/validate.ts';
import { type CliIo, UsageError } from './io.ts';

/** `30s`, `5m`, `1h` or `1500ms` -> milliseconds. A bare number is refused: 5 could mean any unit. */
export function parseInterval(text: string, flag: string): number {
  if (/^\d+$/.test(text.trim())) {
    const n = text.trim();
    throw new UsageError(`${flag} needs a unit: ${n}s, ${n}m or ${n}h (seconds, minutes, hours).`);
  }
  const match = /^(\d+)(ms|s|m|h)$/.exec(text.trim());
  if (!match) throw new UsageError(`${flag} must look like 30s, 5m or 1h, got ${JSON.stringify(text)}.`);
  const amount = Number(match[1]);
  const unit = match[2] ?? 'ms';
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit] ?? 1;
  const ms = amount * factor;
  if (ms < 1000) throw new UsageError(`${flag} must be at least 1s, got ${JSON.stringify(text)}.`);
  return ms;
}

/**
 * A whole-number flag within `min..max`: `fallback` when not given. The one parser of every
 * command's counts, sizes and seeds, so they all accept and refuse the same way.
 */
export function wholeNumber(
  text: string | undefined,
  flag: string,
  range: { readonly min: number; readonly max: number },
): number | undefined;
export function wholeNumber(
  text: string | undefined,
  flag: string,
  range: { readonly min: number; readonly max: number; readonly fallback: number },
): number;
export function wholeNumber(
  text: string | undefined,
  flag: string,
  { min, max, fallback }: { readonly min: number; readonly max: number; readonly fallback?: number },
): number | undefined {
  if (text === undefined) return fallback;
  const trimmed = text.trim();
  const value = /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!(value >= min && value <= max)) {
    throw new UsageError(
      `${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}.`,
    );
  }
  return value;
}

/**
 * The command's flags, strictly parsed; an unknown or malformed flag is a `UsageError` that
 * ends with the command's help text.
 */
export function parseOptions<const T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  help: string,
) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    const message = (error as Error).message;
    const unknown = /^Unknown option '(--[^']+)'/.exec(message)?.[1];
    const guess = unknown ? nearestFlag(unknown, Object.keys(options)) : undefined;
    const hint = guess ? ` Did you mean --${guess}?` : '';
    throw new UsageError(`${message.split('. ')[0]}.${hint}\n\n${help}`);
  }
}

/** The flag nearest to a mistyped one, when near enough to be a typo. */
function nearestFlag(given: string, flags: readonly string[]): string | undefined {
  const typed = given.replace(/^--/, '').split('=')[0]!;
  return nearestName(typed, flags, Math.max(1, Math.floor(typed.length / 3)));
}

/** `--help` / `-h`, which every command takes: added here rather than to each command's flags. */
const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/**
 * `parseOptions` of the command's flags plus `--help` / `-h`: `undefined` when help was asked
 * for, after printing the help on stdout (the command then exits 0).
 */
export function parseCommandLine<const T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  help: string,
  io: Pick<CliIo, 'stdout'>,
) {
  const values = parseOptions(argv, { ...options, ...HELP_OPTION }, help);
  if ((values as { help?: unknown }).help) {
    io.stdout(help);
    return undefined;
  }
  return values;
}
