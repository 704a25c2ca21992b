import { randomBytes } from 'node:crypto';
import type { StateMachine as StateMachineType } from 'aws-local-stepfunctions';
import { type Clock, systemClock } from '#shared/base/clock.ts';
import { reportKey, runIdOf } from '#shared/base/staging-keys.ts';
import type { PipelineSettings } from '#shared/config/pipeline.ts';
import { type BackfillChunk, planBackfill } from '#shared/pipeline/backfill/plan.ts';
import { prepareChunk } from '#shared/pipeline/backfill/prepare.ts';
import {
  type BackfillReport,
  type ChunkOutcome,
  summarizeBackfill,
} from '#shared/pipeline/backfill/summarize.ts';
import { ObjectNotFoundError, type ObjectStore } from '#shared/storage/object-store.ts';
import {
  PermanentWarehouseError,
  RetryableWarehouseError,
  type SqlRunner,
} from '#shared/warehouse/sql-runner.ts';
import { installPromiseWithResolvers } from './promise-polyfill.ts';

/**
 * Runs the backfill state machine on this machine: the definition CDK synthesizes, executed
 * by `aws-local-stepfunctions`, with every Task served locally:
 * - Lambda tasks by the same core functions the Lambda handlers call, over the given stores;
 * - Data API tasks (`batchExecuteStatement`, `describeStatement`) by the SqlRunner's
 *   `startTransaction` / `describe`, answering with the Data API's field names;
 * - Wait states and retry pauses shortened to a few milliseconds.
 *
 * The library has no Distributed Map (ItemReader / ResultWriter). Before running, each Map
 * state that reads its items from S3 is swapped for a Task state of the same name, fields
 * and transitions, whose local handler does what Step Functions does: it reads the JSON array
 * the ItemReader names from the staging store, runs the ItemProcessor as a child execution
 * per item (at most MaxConcurrency at once), applies ToleratedFailurePercentage, and writes
 * the ResultWriter files (`<prefix>/<map run id>/SUCCEEDED_0.json`, `FAILED_0.json`,
 * `manifest.json`) in the format Step Functions documents. That swap is the only change
 * made to the definition.
 */

/** The synthesized state machine, as `synthesizeBackfillDefinition` (infra) returns it. */
export interface BackfillMachine {
  readonly definition: Record<string, unknown>;
  /** ARN of each Lambda as the definition names it. */
  readonly functionArns: { readonly plan: string; readonly prepare: string; readonly summarize: string };
  /** Name of the staging bucket in the definition (ItemReader / ResultWriter buckets). */
  readonly stagingBucket: string;
}

export interface ChunkProgress {
  /** 1-based position in the chunk list. */
  readonly index: number;
  readonly total: number;
  readonly chunk: BackfillChunk;
  /** The chunk's outcome, or the child execution's error when it did not reach one. */
  readonly outcome: ChunkOutcome;
  readonly durationMs: number;
}

export interface LocalBackfillOptions {
  readonly machine: BackfillMachine;
  readonly landing: ObjectStore;
  /** The staging store: the one the runner's COPY statements read from. */
  readonly staging: ObjectStore;
  readonly runner: SqlRunner;
  readonly settings: PipelineSettings;
  /** The execution input, e.g. `{ start: '2026-01-01', end: '2026-01-31' }`. */
  readonly input: unknown;
  /** @default - `local-<time>-<random>` */
  readonly executionName?: string;
  readonly clock?: Clock;
  /** Pause of every Wait state, in milliseconds. @default 20 */
  readonly waitMs?: number;
  /** Pause before every retry, in milliseconds. @default 10 */
  readonly retryMs?: number;
  /** Called as each chunk's child execution ends. */
  readonly onChunk?: (progress: ChunkProgress) => void;
}

export interface LocalBackfillResult {
  readonly executionName: string;
  readonly status: 'SUCCEEDED' | 'FAILED';
  /** The execution's output when it succeeded (the summary). */
  readonly output?: unknown;
  /** `Error` and `Cause` of a failed execution, as the console would show them. */
  readonly error?: string;
  readonly cause?: string;
  /** The report the summarize step wrote, when it ran. */
  readonly report?: BackfillReport;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Handler = (input: Json) => Promise<Json>;
type StateJson = Record<string, unknown>;

/** A failure carrying the `Error` name Step Functions would report, with its `Cause`. */
class TaskError extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

export async function runBackfillLocally(options: LocalBackfillOptions): Promise<LocalBackfillResult> {
  installPromiseWithResolvers();
  const { StateMachine } = await import('aws-local-stepfunctions');
  const executionName = options.executionName ?? `local-${Date.now()}-${randomBytes(3).toString('hex')}`;
  const definition = structuredClone(options.machine.definition);
  const handlers: Record<string, Handler> = {};
  const waits: Record<string, number> = {};
  const retries: Record<string, number> = {};
  const runOptions = () => ({
    overrides: {
      taskResourceLocalHandlers: handlers,
      waitTimeOverrides: waits,
      retryIntervalOverrides: retries,
    },
  });
  const local = new LocalServices(options);

  const visit = (states: Record<string, StateJson>) => {
    for (const [name, state] of Object.entries(states)) {
      if (state.Retry) retries[name] = options.retryMs ?? 10;
      if (state.Type === 'Wait') waits[name] = options.waitMs ?? 20;
      if (state.Type === 'Map' && state.ItemReader) {
        const processor = (state.ItemProcessor ?? state.Iterator) as { States: Record<string, StateJson> };
        visit(processor.States);
        states[name] = distributedMapAsTask(state);
        handlers[name] = (input) =>
          local.distributedMap(name, state, input, (item, childName) =>
            new StateMachine(withoutProcessorConfig(processor) as never, {
              validationOptions: { noValidate: true },
            })
              .run(item as never, {
                ...runOptions(),
                context: {
                  Execution: { Name: childName, Input: item as never, StartTime: new Date().toISOString() },
                },
              })
              .result.then((output) => output as Json),
          );
      } else if (state.Type === 'Task') {
        handlers[name] = local.taskHandler(name, state);
      }
      for (const branch of (state.Branches as { States: Record<string, StateJson> }[] | undefined) ?? []) {
        visit(branch.States);
      }
    }
  };
  visit(definition.States as Record<string, StateJson>);

  const machine: StateMachineType = new StateMachine(definition as never);
  const execution = machine.run(options.input as never, {
    ...runOptions(),
    context: {
      Execution: {
        Id: `arn:aws:states:us-east-1:123456789012:execution:LocalBackfill:${executionName}`,
        Name: executionName,
        Input: options.input as never,
        StartTime: new Date().toISOString(),
      },
    },
  });
  const report = () => readReport(options.staging, runIdOf(executionName));
  try {
    const output = await execution.result;
    return { executionName, status: 'SUCCEEDED', output, ...(await report()) };
  } catch (error) {
    const failure = failureOf(error);
    return {
      executionName,
      status: 'FAILED',
      error: failure.name,
      cause: failure.message,
      ...(await report()),
    };
  }
}

class LocalServices {
  readonly #options: LocalBackfillOptions;
  readonly #clock: Clock;

  constructor(options: LocalBackfillOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  taskHandler(name: string, state: StateJson): Handler {
    const resource = String(state.Resource);
    const { functionArns } = this.#options.machine;
    const parameters = (state.Parameters ?? {}) as StateJson;
    const functionArn = resource.endsWith(':states:::lambda:invoke') ? parameters.FunctionName : resource;
    const lambda = Object.entries(functionArns).find(([, arn]) => arn === functionArn)?.[0];
    if (lambda) {
      const core = this.#lambdaCore(lambda as keyof BackfillMachine['functionArns']);
      const wrapped = resource.endsWith(':states:::lambda:invoke');
      return async (input) => {
        const payload = wrapped ? (input as { Payload: unknown }).Payload : input;
        const result = await asLambda(() => core(payload));
        return wrapped ? { ExecutedVersion: '$LATEST', StatusCode: 200, Payload: result } : result;
      };
    }
    if (resource.endsWith(':states:::aws-sdk:redshiftdata:batchExecuteStatement')) {
      return (input) => this.#batchExecuteStatement(input as { Sqls: string[]; ClientToken?: string });
    }
    if (resource.endsWith(':states:::aws-sdk:redshiftdata:describeStatement')) {
      return (input) => this.#describeStatement(input as { Id: string });
    }
    throw new Error(
      `The local backfill runner has no stand-in for state ${JSON.stringify(name)} (${resource}).`,
    );
  }

  #lambdaCore(name: keyof BackfillMachine['functionArns']): (payload: unknown) => Promise<unknown> {
    const { landing, staging, settings, runner } = this.#options;
    const clock = this.#clock;
    switch (name) {
      case 'plan':
        return (payload) => planBackfill({ store: staging, settings }, payload as never);
      case 'prepare':
        return (payload) =>
          prepareChunk({ landing, staging, settings, dialect: runner.dialect, clock }, payload as never);
      case 'summarize':
        return (payload) =>
          summarizeBackfill(
            { store: staging, runner, schema: settings.schema, projectId: settings.projectId, clock },
            payload as never,
          );
    }
  }

  async #batchExecuteStatement(input: { Sqls: string[]; ClientToken?: string }): Promise<Json> {
    try {
      const { statementId } = await this.#options.runner.startTransaction(input.Sqls, {
        ...(input.ClientToken ? { clientToken: input.ClientToken } : {}),
      });
      return { Id: statementId, CreatedAt: this.#clock().toISOString() };
    } catch (error) {
      throw dataApiError(error);
    }
  }

  async #describeStatement(input: { Id: string }): Promise<Json> {
    try {
      const description = await this.#options.runner.describe(input.Id);
      return {
        Id: description.statementId,
        Status: description.status,
        ...(description.error !== undefined ? { Error: description.error } : {}),
        HasResultSet: false,
      };
    } catch (error) {
      throw dataApiError(error);
    }
  }

  async distributedMap(
    name: string,
    state: StateJson,
    input: Json,
    runChild: (item: Json, childName: string) => Promise<Json>,
  ): Promise<Json> {
    const { reader, writer } = input as {
      reader: { Bucket: string; Key: string };
      writer?: { Bucket: string; Prefix?: string };
    };
    const config = (state.ItemReader as { ReaderConfig?: { InputType?: string } }).ReaderConfig;
    if (config?.InputType !== 'JSON') {
      throw new Error(`Map state ${JSON.stringify(name)}: the local runner reads JSON item lists only.`);
    }
    const items = await this.#readItems(name, reader);
    const mapRunId = randomBytes(8).toString('hex');
    const mapRunArn = `arn:aws:states:us-east-1:123456789012:mapRun:LocalBackfill/${name.replace(/\W/g, '')}:${mapRunId}`;
    const executions: Record<string, unknown>[] = new Array(items.length);
    let next = 0;
    const worker = async () => {
      for (let index = next++; index < items.length; index = next++) {
        const item = items[index] as Json;
        const childName = `${mapRunId}-${index}`;
        const startDate = new Date();
        const base = {
          ExecutionArn: `arn:aws:states:us-east-1:123456789012:execution:LocalBackfill/${name.replace(/\W/g, '')}:${childName}`,
          Input: JSON.stringify(item),
          InputDetails: { Included: true },
          Name: childName,
          StartDate: startDate.toISOString(),
        };
        try {
          const output = await runChild(item, childName);
          const stopDate = new Date();
          executions[index] = {
            ...base,
            Output: JSON.stringify(output),
            OutputDetails: { Included: true },
            Status: 'SUCCEEDED',
            StopDate: stopDate.toISOString(),
          };
          this.#progress(
            index,
            items.length,
            item,
            output as unknown as ChunkOutcome,
            stopDate.getTime() - startDate.getTime(),
          );
        } catch (error) {
          const failure = failureOf(error);
          const stopDate = new Date();
          executions[index] = {
            ...base,
            Error: failure.name,
            Cause: failure.message,
            Status: 'FAILED',
            StopDate: stopDate.toISOString(),
          };
          this.#progress(
            index,
            items.length,
            item,
            undefined,
            stopDate.getTime() - startDate.getTime(),
            failure,
          );
        }
      }
    };
    const concurrency = Number(state.MaxConcurrency ?? 0) || 40;
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(items.length, 1)) }, worker));

    const failed = executions.filter((execution) => execution.Status === 'FAILED');
    const tolerated = Number(state.ToleratedFailurePercentage ?? 0);
    if (items.length > 0 && (failed.length * 100) / items.length > tolerated) {
      throw new TaskError(
        'States.ExceedToleratedFailureThreshold',
        `${failed.length} of ${items.length} items failed, more than the tolerated ${tolerated}%.`,
      );
    }
    if (!writer)
      return executions.map((execution) => (execution.Output ? JSON.parse(String(execution.Output)) : null));
    return (await this.#writeResults(name, writer, mapRunArn, mapRunId, executions)) as Json;
  }

  async #readItems(name: string, reader: { Bucket: string; Key: string }): Promise<unknown[]> {
    const { staging, machine } = this.#options;
    if (reader.Bucket !== machine.stagingBucket) {
      throw new Error(
        `Map state ${JSON.stringify(name)} reads bucket ${reader.Bucket}; locally only ${machine.stagingBucket} exists.`,
      );
    }
    let items: unknown;
    try {
      items = JSON.parse((await staging.getBytes(reader.Key)).toString('utf8'));
    } catch (error) {
      if (error instanceof ObjectNotFoundError) {
        throw new TaskError('States.ItemReaderFailed', `The item list ${reader.Key} does not exist.`);
      }
      throw new TaskError('States.ItemReaderFailed', `The item list ${reader.Key} is not valid JSON.`);
    }
    if (!Array.isArray(items)) {
      throw new TaskError('States.ItemReaderFailed', `The item list ${reader.Key} is not a JSON array.`);
    }
    return items;
  }

  async #writeResults(
    name: string,
    writer: { Bucket: string; Prefix?: string },
    mapRunArn: string,
    mapRunId: string,
    executions: readonly Record<string, unknown>[],
  ): Promise<unknown> {
    const { staging, machine } = this.#options;
    if (writer.Bucket !== machine.stagingBucket) {
      throw new Error(
        `Map state ${JSON.stringify(name)} writes bucket ${writer.Bucket}; locally only ${machine.stagingBucket} exists.`,
      );
    }
    const folder = `${writer.Prefix ? `${writer.Prefix.replace(/\/$/, '')}/` : ''}${mapRunId}/`;
    const resultFiles: Record<'SUCCEEDED' | 'FAILED' | 'PENDING', { Key: string; Size: number }[]> = {
      FAILED: [],
      PENDING: [],
      SUCCEEDED: [],
    };
    for (const status of ['SUCCEEDED', 'FAILED'] as const) {
      const selected = executions.filter((execution) => execution.Status === status);
      if (selected.length === 0) continue;
      const key = `${folder}${status}_0.json`;
      const body = JSON.stringify(selected);
      await staging.put(key, body, { contentType: 'application/json' });
      resultFiles[status].push({ Key: key, Size: Buffer.byteLength(body) });
    }
    const manifestKey = `${folder}manifest.json`;
    await staging.put(
      manifestKey,
      JSON.stringify({ DestinationBucket: writer.Bucket, MapRunArn: mapRunArn, ResultFiles: resultFiles }),
      { contentType: 'application/json' },
    );
    return { MapRunArn: mapRunArn, ResultWriterDetails: { Bucket: writer.Bucket, Key: manifestKey } };
  }

  #progress(
    index: number,
    total: number,
    item: Json,
    outcome: ChunkOutcome | undefined,
    durationMs: number,
    failure?: Error,
  ): void {
    if (!this.#options.onChunk) return;
    const chunk = item as unknown as BackfillChunk;
    this.#options.onChunk({
      index: index + 1,
      total,
      chunk,
      outcome: outcome ?? {
        chunkId: chunk.chunkId,
        feed: chunk.feed,
        startHour: chunk.startHour,
        endHour: chunk.endHour,
        status: 'failed',
        error: failure?.name ?? 'Failed',
        cause: failure?.message ?? '',
      },
      durationMs,
    });
  }
}

/**
 * The Map state as a Task state with the same name, paths, retries, catches and transition.
 * Its parameters are the ItemReader's and ResultWriter's, so the library resolves their
 * JSONPaths against the state input exactly as Step Functions does.
 */
function distributedMapAsTask(state: StateJson): StateJson {
  for (const unsupported of [
    'ItemSelector',
    'Parameters',
    'ItemBatcher',
    'ItemsPath',
    'ToleratedFailureCount',
  ]) {
    if (state[unsupported] !== undefined) {
      throw new Error(`The local runner does not support ${unsupported} on a Distributed Map state.`);
    }
  }
  const reader = state.ItemReader as { Resource: string; Parameters: StateJson };
  const writer = state.ResultWriter as { Parameters?: StateJson } | undefined;
  const kept = [
    'Comment',
    'InputPath',
    'ResultSelector',
    'ResultPath',
    'OutputPath',
    'Retry',
    'Catch',
    'Next',
    'End',
  ];
  return {
    Type: 'Task',
    Resource: reader.Resource,
    Parameters: { reader: reader.Parameters, ...(writer?.Parameters ? { writer: writer.Parameters } : {}) },
    // The library stops a Task after 60 s unless told otherwise; a map runs for as long as its items.
    TimeoutSeconds: 2_000_000,
    ...Object.fromEntries(kept.filter((key) => state[key] !== undefined).map((key) => [key, state[key]])),
  };
}

function withoutProcessorConfig(processor: { States: Record<string, StateJson> }): StateJson {
  const { ProcessorConfig: _config, ...rest } = processor as StateJson;
  return rest;
}

/** Runs a Lambda core; a thrown error becomes what Step Functions sees from Lambda: Error = type, Cause = JSON. */
async function asLambda(run: () => Promise<unknown>): Promise<Json> {
  try {
    return JSON.parse(JSON.stringify(await run())) as Json;
  } catch (error) {
    const name = error instanceof Error ? error.name : 'Error';
    const message = error instanceof Error ? error.message : String(error);
    throw new TaskError(name, JSON.stringify({ errorType: name, errorMessage: message, trace: [] }));
  }
}

/** The `RedshiftData.<Exception>` error Step Functions would report for a failed Data API call. */
function dataApiError(error: unknown): TaskError {
  const message = error instanceof Error ? error.message : String(error);
  const code =
    error instanceof RetryableWarehouseError || error instanceof PermanentWarehouseError
      ? error.code
      : undefined;
  if (code && /Exception$/.test(code)) return new TaskError(`RedshiftData.${code}`, message);
  if (error instanceof RetryableWarehouseError)
    return new TaskError('RedshiftData.InternalServerException', message);
  return new TaskError('RedshiftData.ValidationException', message);
}

/** `Error` and `Cause` of a failed (child) execution: the library wraps the state's error. */
function failureOf(error: unknown): Error {
  const cause = (error as { cause?: unknown })?.cause;
  if (error instanceof Error && error.name === 'ExecutionError' && cause instanceof Error) return cause;
  return error instanceof Error ? error : new Error(String(error));
}

async function readReport(store: ObjectStore, runId: string): Promise<{ report?: BackfillReport }> {
  try {
    return {
      report: JSON.parse((await store.getBytes(reportKey(runId))).toString('utf8')) as BackfillReport,
    };
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return {};
    throw error;
  }
}
