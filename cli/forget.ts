import { PREFIXES, quarantineKey } from '#shared/base/staging-keys.ts';
import type { ErasureInput, ErasureOutcome } from '#shared/pipeline/erasure/erase.ts';
import { validateErasureInput } from '#shared/pipeline/erasure/erase.ts';

/** The flags `forget` and `local forget` share. */
export const FORGET_OPTIONS = {
  'amplitude-id': { type: 'string' },
  'user-id': { type: 'string' },
  'device-id': { type: 'string' },
  reference: { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

export const FORGET_FLAGS_HELP = `  --amplitude-id N     the person's Amplitude ID; every ID merged with it is erased too
  --user-id U          the person's user_id, exactly as exported (case and spaces matter)
  --device-id D        the person's device_id, exactly as exported
                       (give one or several; rows matching any of them are removed)
  --reference REF      required: your ticket or request id (no personal data: status shows it)
  --dry-run            count what would be removed; change nothing and record nothing
  --json               print the outcome as JSON`;

/** Checks the identifiers and reference before anything is opened; a ConfigError is exit 2. */
export function forgetInput(values: {
  'amplitude-id'?: string | undefined;
  'user-id'?: string | undefined;
  'device-id'?: string | undefined;
  reference?: string | undefined;
}): ErasureInput {
  return validateErasureInput(
    {
      ...(values['amplitude-id'] !== undefined ? { amplitudeId: values['amplitude-id'] } : {}),
      ...(values['user-id'] !== undefined ? { userId: values['user-id'] } : {}),
      ...(values['device-id'] !== undefined ? { deviceId: values['device-id'] } : {}),
      ...(values.reference !== undefined ? { reference: values.reference } : {}),
    },
    { amplitudeId: '--amplitude-id', userId: '--user-id', deviceId: '--device-id', reference: '--reference' },
  );
}

/** Where the staged files are and how long they are kept, for the report. */
export interface StagingContext {
  /** `s3://bucket/<key>` or a local path. */
  readonly locate: (key: string) => string;
  /** Days the lifecycle rules keep them, or undefined where nothing expires them (local). */
  readonly stagingDays?: number;
  readonly quarantineDays?: number;
}

function describeIdentifiers(outcome: ErasureOutcome): string {
  const { amplitudeId, userId, deviceId } = outcome.identifiers;
  return [
    ...(amplitudeId !== undefined ? [`amplitude_id ${amplitudeId}`] : []),
    ...(userId !== undefined ? [`user_id ${JSON.stringify(userId)}`] : []),
    ...(deviceId !== undefined ? [`device_id ${JSON.stringify(deviceId)}`] : []),
  ].join(', ');
}

const minute = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')}`;

/**
 * The outcome for a person to read. It repeats only the identifiers that were given: the IDs
 * merged with them are counted, never listed.
 */
export function renderErasure(outcome: ErasureOutcome, staging: StagingContext): string {
  const who = describeIdentifiers(outcome);
  const verb = outcome.dryRun ? 'would be removed' : 'removed';
  const lines = [
    outcome.dryRun
      ? `Dry run for ${who} (reference ${outcome.reference}): nothing was changed or recorded.`
      : `Erasure ${outcome.erasureId} recorded (reference ${outcome.reference}) for ${who}.`,
  ];
  const width = Math.max(...outcome.tables.map((table) => table.table.length));
  for (const table of outcome.tables) {
    const range = table.from && table.to ? ` (${minute(table.from)} to ${minute(table.to)} UTC)` : '';
    lines.push(
      `  ${table.table.padEnd(width)}  ${table.rows} ${table.rows === 1 ? 'row' : 'rows'} ${verb}${range}`,
    );
  }
  if (outcome.identifiers.amplitudeId !== undefined) {
    lines.push(
      `  Amplitude IDs merged with it: ${outcome.linkedAmplitudeIds} (their rows are in the counts above).`,
    );
  }
  lines.push(...(outcome.dryRun ? ['Run again without --dry-run to apply it.'] : []), '');
  if (outcome.exposedBatches.length === 0) {
    lines.push('Staged files: no loaded batch spans these rows.');
  } else {
    const kept =
      staging.stagingDays !== undefined
        ? ` until the staging bucket's lifecycle rules delete them (staged parts ${staging.stagingDays} days, quarantine records ${staging.quarantineDays ?? '?'} days after they were written)`
        : ' (the local store keeps them until you delete them)';
    lines.push(
      `Staged files of ${outcome.exposedBatches.length} loaded batch(es) may still hold these rows${kept}:`,
    );
    for (const batch of outcome.exposedBatches) {
      lines.push(
        `  ${staging.locate(`${PREFIXES.staging}${batch.feed}/*/${batch.batchId}/`)}  (quarantine record, if any: ${staging.locate(quarantineKey(batch.feed, batch.batchId))})`,
      );
    }
  }
  lines.push(
    "Landing files (Amplitude's export) are not rewritten: delete the person there and in Amplitude yourself.",
  );
  return `${lines.join('\n')}\n`;
}
