import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { METRIC_NAMESPACE, SERVICES } from './metric-names.ts';
import { redactingReplacer } from './redact.ts';

export type Service = (typeof SERVICES)[keyof typeof SERVICES];

/** Value of the `pipeline` key on every log line, to tell these logs from others in a shared query. */
export const PIPELINE_LOG_NAME = 'amplitude-redshift-export';

export interface ObservabilityOptions {
  /** The Powertools service: the `service` key of logs and the `service` metric dimension. */
  readonly service: Service;
  /**
   * Which Lambda of the service (the backfill has three), logged as `component`.
   * @default - the service name
   */
  readonly component?: string;
  /** More keys on every line of this Lambda (never a secret; they are redacted anyway). */
  readonly persistentKeys?: Readonly<Record<string, string>>;
}

/** The three Powertools utilities of one Lambda, built once at module scope. */
export interface Observability {
  readonly service: Service;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tracer: Tracer;
}

/**
 * Structured JSON logs through the redaction replacer. The level comes from
 * POWERTOOLS_LOG_LEVEL (or Lambda's application log level), INFO by default.
 */
export function createLogger(options: ObservabilityOptions): Logger {
  return new Logger({
    serviceName: options.service,
    persistentKeys: {
      pipeline: PIPELINE_LOG_NAME,
      component: options.component ?? options.service,
      ...options.persistentKeys,
    },
    jsonReplacerFn: redactingReplacer,
  });
}

/**
 * EMF metrics in the project's one namespace. Powertools adds the `service` dimension; the
 * recorders (`run-metrics.ts`) add `Feed` and `Reason`, and nothing else.
 */
export function createMetrics(service: Service): Metrics {
  return new Metrics({ namespace: METRIC_NAMESPACE, serviceName: service });
}

/**
 * X-Ray tracing of the SDK clients passed to `traceClient`. Outgoing HTTPS is not patched
 * globally: every call the Lambdas make is an SDK call, which the client capture records.
 */
export function createTracer(service: Service): Tracer {
  return new Tracer({ serviceName: service, captureHTTPsRequests: false });
}

export function createObservability(options: ObservabilityOptions): Observability {
  if (!(Object.values(SERVICES) as string[]).includes(options.service)) {
    throw new Error(
      `Unknown observability service ${JSON.stringify(options.service)}: expected one of ${Object.values(SERVICES).join(', ')} (metric-names.ts SERVICES).`,
    );
  }
  return {
    service: options.service,
    logger: createLogger(options),
    metrics: createMetrics(options.service),
    tracer: createTracer(options.service),
  };
}

/** The client, recorded as X-Ray subsegments when tracing is on (in Lambda); unchanged elsewhere. */
export function traceClient<T>(observability: Pick<Observability, 'tracer'>, client: T): T {
  return observability.tracer.captureAWSv3Client(client);
}
