import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  DIMENSIONS,
  EXPORT_API_METRICS,
  METRIC_NAMESPACE,
  METRICS,
  type MetricName,
  SERVICES,
} from '#shared/observability/metric-names.ts';
import type { Feed } from '#shared/schema/columns.ts';
import { acknowledge } from '../nag.ts';

type Service = (typeof SERVICES)[keyof typeof SERVICES];
type ExportApiMetricName = (typeof EXPORT_API_METRICS)[keyof typeof EXPORT_API_METRICS];

/** The live Export API pull, watched when the connector is on. */
export interface ExportApiMonitoring {
  readonly function: lambda.IFunction;
  /** Time between pulls: the missing-hours alarm never looks at periods shorter than this. */
  readonly interval: Duration;
}

export interface MonitoringProps {
  readonly feeds: readonly Feed[];
  /** Encrypts the alarm topic; CloudWatch is allowed to use it to publish. */
  readonly key: kms.IKey;
  readonly batcher: lambda.IFunction;
  readonly loader: lambda.IFunction;
  readonly deadLetterQueue: sqs.IQueue;
  /** The backfill state machine. @default - no backfill widgets or alarm */
  readonly backfill?: sfn.IStateMachine;
  /** The Export API pull. @default - no Export API widgets or alarms */
  readonly exportApi?: ExportApiMonitoring;
  /** Address subscribed to the alarm topic. @default - no subscription */
  readonly alarmEmail?: string;
  /** Alarm when the oldest pending batch is older than this. @default Duration.minutes(30) */
  readonly maxPendingBatchAge?: Duration;
}

const PERIOD = Duration.minutes(5);
/** Rows queryable within 15 minutes of their file landing (p99): the dashboard draws it. */
const FRESHNESS_GOAL_SECONDS = 900;
/**
 * The landing-to-commit alarm's p99 is over an hour of batches (at the default schedules 12 or
 * more per feed), not a 5-minute period of one or two, whose p99 would be a single batch's delay.
 */
const FRESHNESS_PERIOD = Duration.hours(1);
/** The Export API pull runs hourly by default: its figures are read per hour. */
const EXPORT_API_PERIOD = Duration.hours(1);
/** How long an hour may stay missing (about three hourly runs failing it) before the alarm. */
const EXPORT_API_MAX_GAP_AGE = Duration.hours(3);

/**
 * The dashboard and the alarms. Custom metrics are read by the names and dimensions of
 * `shared/observability/metric-names.ts`, the module the handlers emit them from.
 */
export class Monitoring extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly topic: sns.Topic;
  readonly alarms: {
    readonly batcherErrors: cloudwatch.Alarm;
    readonly loaderErrors: cloudwatch.Alarm;
    readonly loadFailures: cloudwatch.Alarm;
    readonly pendingBatchAge: cloudwatch.Alarm;
    readonly landingToCommit: cloudwatch.Alarm;
    readonly quarantined: cloudwatch.Alarm;
    readonly deadLetters: cloudwatch.Alarm;
    readonly backfillFailed?: cloudwatch.Alarm;
    readonly exportApiErrors?: cloudwatch.Alarm;
    readonly exportApiGapAge?: cloudwatch.Alarm;
    readonly exportApiAbandonedHours?: cloudwatch.Alarm;
  };
  private readonly feeds: readonly Feed[];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.feeds = props.feeds;
    this.topic = new sns.Topic(this, 'Alarms', {
      displayName: 'Amplitude Redshift export alarms',
      masterKey: props.key,
      enforceSSL: true,
    });
    // A topic policy replaces SNS's default one, so CloudWatch needs its own Allow: alarms of
    // this account and region only (confused deputy). Without it every alarm action fails with
    // "not authorized to perform: SNS:Publish ... because no resource-based policy allows".
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
          ArnLike: {
            'aws:SourceArn': Stack.of(this).formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    // CloudWatch alarms publish to the encrypted topic, which needs the key
    // (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
    props.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    if (props.alarmEmail) {
      const subscription = new subscriptions.EmailSubscription(props.alarmEmail);
      this.topic.addSubscription(subscription);
      acknowledge(
        this.topic,
        'Serverless-SNSRedrivePolicy',
        'The only subscription is an email address; SNS retries email delivery and counts failures in NumberOfNotificationsFailed, and a queue of undelivered alarm emails would need its own watcher.',
      );
    }

    const maxAge = props.maxPendingBatchAge ?? Duration.minutes(30);
    this.alarms = {
      batcherErrors: this.alarm('BatcherErrors', props.batcher.metricErrors({ period: PERIOD }), {
        description:
          'The batcher Lambda failed. Open its log group for the error; new files wait until it succeeds.',
      }),
      loaderErrors: this.alarm('LoaderErrors', props.loader.metricErrors({ period: PERIOD }), {
        description:
          'The loader Lambda failed. Open its log group for the error; batches stay pending until it succeeds.',
      }),
      loadFailures: this.alarm('LoadFailures', this.total(METRICS.loadFailures, [SERVICES.loader], 'Sum'), {
        description:
          'A load transaction failed and was rolled back. The run summary in the loader log says why (README, "Watch it").',
      }),
      pendingBatchAge: this.alarm(
        'PendingBatchAge',
        this.max(METRICS.oldestPendingBatchAgeSeconds, SERVICES.loader),
        {
          threshold: maxAge.toSeconds(),
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          description: `A batch has waited more than ${maxAge.toMinutes()} minutes to be loaded: the loader is failing or cannot keep up.`,
        },
      ),
      landingToCommit: this.alarm(
        'LandingToCommitP99',
        this.max(METRICS.landingToCommitSeconds, SERVICES.loader, 'p99', FRESHNESS_PERIOD),
        {
          threshold: FRESHNESS_GOAL_SECONDS,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          description: `The p99 delay from a file landing to its rows' commit was over ${FRESHNESS_GOAL_SECONDS / 60} minutes in the last hour (the freshness goal). Check the dashboard's load duration, pending batches and the hours read per load (late data), and the loader's and batcher's run summaries.`,
        },
      ),
      quarantined: this.alarm(
        'Quarantined',
        this.total(METRICS.rowsQuarantined, [SERVICES.batcher, SERVICES.backfill], 'Sum'),
        {
          description:
            'Records were quarantined. Read quarantine/<feed>/<batchId>.jsonl.gz in the staging bucket: each line has its reason.',
        },
      ),
      deadLetters: this.alarm(
        'DeadLetters',
        props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: PERIOD,
          statistic: 'Maximum',
        }),
        {
          description:
            'A scheduled run was dropped (failed, expired or undeliverable). Read the message in the dead-letter queue, fix the cause, then purge the queue.',
        },
      ),
      ...(props.backfill
        ? {
            backfillFailed: this.alarm(
              'BackfillFailed',
              new cloudwatch.MathExpression({
                expression: 'FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)',
                usingMetrics: {
                  failed: props.backfill.metricFailed({ period: PERIOD }),
                  timedOut: props.backfill.metricTimedOut({ period: PERIOD }),
                  aborted: props.backfill.metricAborted({ period: PERIOD }),
                },
                period: PERIOD,
                label: 'Backfill executions failed',
              }),
              {
                description:
                  'A backfill execution failed. Its report in the staging bucket (backfill/) lists the failed chunks.',
              },
            ),
          }
        : {}),
      ...(props.exportApi ? this.exportApiAlarms(props.exportApi) : {}),
    };

    const landingToCommit = [
      ...this.perFeedStat(METRICS.landingToCommitSeconds, SERVICES.loader, 'p50'),
      ...this.perFeedStat(METRICS.landingToCommitSeconds, SERVICES.loader, 'p99'),
    ];
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(24),
      widgets: [
        [
          this.graph(
            'Files and events batched (bytes on the right)',
            [
              ...this.perFeed(METRICS.filesDiscovered, SERVICES.batcher, 'Sum'),
              ...this.perFeed(METRICS.eventsBatched, SERVICES.batcher, 'Sum'),
            ],
            [
              ...this.perFeed(METRICS.bytesIn, SERVICES.batcher, 'Sum'),
              ...this.perFeed(METRICS.bytesOut, SERVICES.batcher, 'Sum'),
            ],
          ),
          this.graph('Rows loaded', [
            ...this.perFeed(METRICS.rowsLoaded, SERVICES.loader, 'Sum'),
            ...this.perFeed(METRICS.rowsLoaded, SERVICES.backfill, 'Sum'),
          ]),
          this.graph('Duplicates', [
            ...this.perFeed(METRICS.duplicatesDropped, SERVICES.batcher, 'Sum'),
            ...this.perFeed(METRICS.duplicatesSkipped, SERVICES.loader, 'Sum'),
            ...this.perFeed(METRICS.duplicatesSkipped, SERVICES.backfill, 'Sum'),
          ]),
          // Rows of people erased with `forget` that a later load found staged again (a replay,
          // a backfill, a re-export) and dropped.
          this.graph('Erased rows dropped at load', [
            ...this.perFeed(METRICS.rowsErased, SERVICES.loader, 'Sum'),
            ...this.perFeed(METRICS.rowsErased, SERVICES.backfill, 'Sum'),
          ]),
        ],
        [
          this.graph('Quarantined by reason', [
            new cloudwatch.MathExpression({
              expression: `SEARCH('{${METRIC_NAMESPACE},${DIMENSIONS.service},${DIMENSIONS.feed},${DIMENSIONS.reason}} MetricName="${METRICS.rowsQuarantined}"', 'Sum', ${PERIOD.toSeconds()})`,
              usingMetrics: {},
              label: '',
              period: PERIOD,
            }),
          ]),
          this.graph('Freshness (seconds behind Amplitude)', [
            ...this.perFeed(METRICS.freshnessSeconds, SERVICES.loader, 'Maximum'),
          ]),
          this.graph('Pending batches', [
            ...this.perFeed(METRICS.oldestPendingBatchAgeSeconds, SERVICES.loader, 'Maximum'),
            ...this.perFeed(METRICS.batchesPending, SERVICES.loader, 'Maximum'),
          ]),
        ],
        [
          this.graph('Failures', [
            props.batcher.metricErrors({ period: PERIOD, label: 'Batcher errors' }),
            props.loader.metricErrors({ period: PERIOD, label: 'Loader errors' }),
            ...this.perFeed(METRICS.loadFailures, SERVICES.loader, 'Sum'),
            props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
              period: PERIOD,
              statistic: 'Maximum',
              label: 'Dead letters',
            }),
          ]),
          this.graph('Load duration (ms)', [
            ...this.perFeed(METRICS.loadDurationMs, SERVICES.loader, 'Maximum'),
          ]),
          this.graph('Backfill', [
            ...(props.backfill
              ? [
                  props.backfill.metricStarted({ period: PERIOD, label: 'Executions started' }),
                  props.backfill.metricSucceeded({ period: PERIOD, label: 'Executions succeeded' }),
                  props.backfill.metricFailed({ period: PERIOD, label: 'Executions failed' }),
                ]
              : []),
            ...this.perFeed(METRICS.backfillChunksSucceeded, SERVICES.backfill, 'Sum'),
            ...this.perFeed(METRICS.backfillChunksFailed, SERVICES.backfill, 'Sum'),
          ]),
        ],
        [
          this.graph(
            `Landing to commit p50 / p99 (seconds; goal p99 <= ${FRESHNESS_GOAL_SECONDS})`,
            landingToCommit,
          ),
          // Over the whole time range the dashboard shows, not per 5-minute period.
          new cloudwatch.SingleValueWidget({
            title: 'Landing to commit over the dashboard period (seconds)',
            metrics: landingToCommit,
            setPeriodToTimeRange: true,
            width: 8,
            height: 6,
          }),
          this.graph(
            'Hours of the table read per load (span on the right): late data and its cost',
            [
              ...this.perFeedStat(METRICS.loadHoursRead, SERVICES.loader, 'Maximum'),
              ...this.perFeedStat(METRICS.loadHoursRead, SERVICES.loader, 'Average'),
            ],
            [...this.perFeedStat(METRICS.loadHoursSpan, SERVICES.loader, 'Maximum')],
          ),
        ],
        [
          // Within those hours a load reads only the times of its rows (minutes, not whole hours).
          this.graph('Seconds of the table read per load: the time ranges of the loaded rows', [
            ...this.perFeedStat(METRICS.loadSecondsRead, SERVICES.loader, 'Maximum'),
            ...this.perFeedStat(METRICS.loadSecondsRead, SERVICES.loader, 'Average'),
          ]),
        ],
        ...(props.exportApi ? [this.exportApiWidgets(props.exportApi)] : []),
      ],
    });
  }

  private exportApiAlarms(exportApi: ExportApiMonitoring) {
    const m = EXPORT_API_METRICS;
    // A pull emits once per run; a period shorter than the interval would be empty.
    const period = Duration.seconds(Math.max(EXPORT_API_PERIOD.toSeconds(), exportApi.interval.toSeconds()));
    const maxGapAge = Math.max(EXPORT_API_MAX_GAP_AGE.toSeconds(), 3 * exportApi.interval.toSeconds());
    return {
      exportApiErrors: this.alarm('ExportApiErrors', exportApi.function.metricErrors({ period: PERIOD }), {
        description:
          'The Export API pull failed and needs a person (refused credentials, or an answer it cannot place). Its log group says which; missing hours are pulled on the next runs once it is fixed.',
      }),
      exportApiGapAge: this.alarm(
        'ExportApiGapAge',
        this.exportApiMetric(m.oldestGapAgeSeconds, 'Maximum', period),
        {
          threshold: maxGapAge,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 2,
          // Missing data keeps the alarm's state: right after a deploy, before the first pull
          // reports, it stays INSUFFICIENT_DATA instead of breaching on hours before the stack
          // existed. A pull that fails shows in ExportApiErrors, one that cannot run in DeadLetters.
          treatMissingData: cloudwatch.TreatMissingData.MISSING,
          description: `An hour has been missing from the Export API pull for more than ${maxGapAge / 3600} hours. Its log lists the failed hours; check https://status.amplitude.com and the pull's errors.`,
        },
      ),
      exportApiAbandonedHours: this.alarm(
        'ExportApiAbandonedHours',
        this.exportApiMetric(m.abandonedHours, 'Sum', PERIOD),
        {
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          description:
            "Hours left the Export API pull's look-back window without being pulled. Its log names them: backfill them with --source export-api.",
        },
      ),
    };
  }

  private exportApiWidgets(exportApi: ExportApiMonitoring): cloudwatch.GraphWidget[] {
    const m = EXPORT_API_METRICS;
    const hourly = (name: ExportApiMetricName, statistic: string) =>
      this.exportApiMetric(name, statistic, EXPORT_API_PERIOD);
    return [
      this.graph(
        'Export API: hours pulled, files written (bytes downloaded on the right)',
        [hourly(m.hoursPulled, 'Sum'), hourly(m.filesWritten, 'Sum')],
        [hourly(m.bytesDownloaded, 'Sum')],
      ),
      this.graph(
        'Export API: missing hours (age of the oldest on the right)',
        [hourly(m.gapHours, 'Maximum'), hourly(m.abandonedHours, 'Sum')],
        [hourly(m.oldestGapAgeSeconds, 'Maximum')],
      ),
      this.graph('Export API: failures', [
        hourly(m.failedRequests, 'Sum'),
        exportApi.function.metricErrors({ period: EXPORT_API_PERIOD, label: 'Export API pull errors' }),
      ]),
    ];
  }

  /** A metric of the Export API pull, which emits for the events feed only. */
  private exportApiMetric(name: ExportApiMetricName, statistic: string, period: Duration): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName: name,
      dimensionsMap: { [DIMENSIONS.service]: SERVICES.exportApi, [DIMENSIONS.feed]: 'events' },
      statistic,
      period,
      label: name,
    });
  }

  /** The custom metric `name` of one service and feed. */
  metric(name: MetricName, service: Service, feed: Feed, statistic: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName: name,
      dimensionsMap: { [DIMENSIONS.service]: service, [DIMENSIONS.feed]: feed },
      statistic,
      period: PERIOD,
      label: `${name} ${feed}${service === SERVICES.backfill ? ' (backfill)' : ''}`,
    });
  }

  /** `perFeed` with the statistic in the label, for graphs that show two of one metric. */
  private perFeedStat(name: MetricName, service: Service, statistic: string): cloudwatch.Metric[] {
    return this.perFeed(name, service, statistic).map((metric) =>
      metric.with({ label: `${metric.label} ${statistic}` }),
    );
  }

  private perFeed(name: MetricName, service: Service, statistic: string): cloudwatch.Metric[] {
    return this.feeds.map((feed) => this.metric(name, service, feed, statistic));
  }

  /** Sum over every feed and the given services; a missing series counts as 0. */
  private total(
    name: MetricName,
    services: readonly Service[],
    statistic: string,
  ): cloudwatch.MathExpression {
    const usingMetrics: Record<string, cloudwatch.IMetric> = {};
    for (const service of services) {
      for (const feed of this.feeds)
        usingMetrics[`m_${service}_${feed}`] = this.metric(name, service, feed, statistic);
    }
    return new cloudwatch.MathExpression({
      expression: Object.keys(usingMetrics)
        .map((id) => `FILL(${id}, 0)`)
        .join(' + '),
      usingMetrics,
      period: PERIOD,
      label: `${name} (all feeds)`,
    });
  }

  /**
   * Largest value of `statistic` over every feed of one service, per `period` (the
   * landing-to-commit alarm takes each feed's p99 over an hour).
   */
  private max(
    name: MetricName,
    service: Service,
    statistic = 'Maximum',
    period: Duration = PERIOD,
  ): cloudwatch.IMetric {
    const usingMetrics: Record<string, cloudwatch.IMetric> = {};
    // The expression's period applies to the metrics it uses.
    for (const feed of this.feeds) usingMetrics[`m_${feed}`] = this.metric(name, service, feed, statistic);
    return new cloudwatch.MathExpression({
      expression: `MAX([${Object.keys(usingMetrics).join(', ')}])`,
      usingMetrics,
      period,
      label: `${name}${statistic === 'Maximum' ? '' : ` ${statistic}`} (largest of all feeds)`,
    });
  }

  private alarm(
    id: string,
    metric: cloudwatch.IMetric,
    options: {
      description: string;
      threshold?: number;
      comparisonOperator?: cloudwatch.ComparisonOperator;
      /** Periods looked at, all of which must breach. @default 1 */
      evaluationPeriods?: number;
      /** @default NOT_BREACHING */
      treatMissingData?: cloudwatch.TreatMissingData;
    },
  ): cloudwatch.Alarm {
    const evaluationPeriods = options.evaluationPeriods ?? 1;
    const alarm = new cloudwatch.Alarm(this, id, {
      metric,
      alarmDescription: options.description,
      threshold: options.threshold ?? 1,
      comparisonOperator:
        options.comparisonOperator ?? cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods,
      ...(evaluationPeriods > 1 ? { datapointsToAlarm: evaluationPeriods } : {}),
      // No data means nothing ran or nothing happened; the Lambda error alarms cover "did not run".
      treatMissingData: options.treatMissingData ?? cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    return alarm;
  }

  private graph(
    title: string,
    left: cloudwatch.IMetric[],
    right: cloudwatch.IMetric[] = [],
  ): cloudwatch.GraphWidget {
    return new cloudwatch.GraphWidget({ title, left, right, width: 8, height: 6 });
  }
}
