import { type SynthesizedBackfill, synthesizeBackfillDefinition } from '#cli/local/backfill-definition.ts';
import type { ExportSettings } from '#infra/constructs/pipeline.ts';
import type { PipelineSettings } from '#shared/config/pipeline.ts';

export {
  type ChunkProgress,
  type LocalBackfillOptions,
  type LocalBackfillResult,
  runBackfillLocally,
} from '#cli/local/state-machine.ts';

const synthesized = new Map<string, SynthesizedBackfill>();

/**
 * The backfill state machine as CDK synthesizes it (see `synthesizeBackfillDefinition`), once
 * per test file and settings: synthesis takes a few seconds.
 */
export function backfillMachine(
  settings: Pick<PipelineSettings, 'projectId' | 'orgId' | 'feeds' | 'schema' | 'landingPrefix'>,
  options: { maxConcurrency?: number } = {},
): SynthesizedBackfill {
  const exportSettings: ExportSettings = {
    projectId: settings.projectId,
    ...(settings.orgId !== undefined ? { orgId: settings.orgId } : {}),
    feeds: settings.feeds,
    schema: settings.schema,
    landingPrefix: settings.landingPrefix,
  };
  const key = JSON.stringify([exportSettings, options]);
  let machine = synthesized.get(key);
  if (!machine) {
    machine = synthesizeBackfillDefinition({ settings: exportSettings, ...options });
    synthesized.set(key, machine);
  }
  return machine;
}
