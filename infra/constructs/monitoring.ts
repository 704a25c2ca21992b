import { Duration, Stack } from 'aws-cdk-lib';
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
  METRIC_NAMESPACE,
  METRICS,
  type MetricName,
  SERVICES,
} from '#shared/observability/metric-names.ts';
import type { Feed } from '#shared/schema/columns.ts';
import { acknowledge } from '../nag.ts';

type Service = (typeof SERVICES)[keyof typeof SERVICES];

export interface MonitoringProps {
  readonly feeds: readonly Feed[];
  /** Encrypts the alarm topic; CloudWatch is allowed to use it to publish. */
  readonly key: kms.IKey;
  readonly batcher: lambda.IFunction;
  readonly loader: lambda.IFunction;
  readonly deadLetterQueue: sqs.IQueue;
  /** The backfill state machine. @default - no backfill widgets or alarm */
  readonly backfill?: sfn.IStateMachine;
  /** Address subscribed to the alarm topic. @default - no subscription */
  readonly alarmEmail?: string;
  /** Alarm when the oldest pending batch is older than this. @default Duration.minutes(30) */
  readonly maxPendingBatchAge?: Duration;
}

const PERIOD = Duration.minutes(5);

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
    readonly quarantined: cloudwatch.Alarm;
    readonly deadLetters: cloudwatch.Alarm;
    readonly backfillFailed?: cloudwatch.Alarm;
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
    // CloudWatch alarms publish to the encrypted topic, which needs the key.
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
          'A load transaction failed and was rolled back. The loader log says why (see DEPLOY.md, "Alarms").',
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
    };

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
      ],
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

  /** Largest value over every feed of one service. */
  private max(name: MetricName, service: Service): cloudwatch.IMetric {
    const usingMetrics: Record<string, cloudwatch.IMetric> = {};
    for (const feed of this.feeds) usingMetrics[`m_${feed}`] = this.metric(name, service, feed, 'Maximum');
    return new cloudwatch.MathExpression({
      expression: `MAX([${Object.keys(usingMetrics).join(', ')}])`,
      usingMetrics,
      period: PERIOD,
      label: `${name} (largest of all feeds)`,
    });
  }

  private alarm(
    id: string,
    metric: cloudwatch.IMetric,
    options: {
      description: string;
      threshold?: number;
      comparisonOperator?: cloudwatch.ComparisonOperator;
    },
  ): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric,
      alarmDescription: options.description,
      threshold: options.threshold ?? 1,
      comparisonOperator:
        options.comparisonOperator ?? cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // No data means nothing ran or nothing happened; the Lambda error alarms cover "did not run".
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
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
