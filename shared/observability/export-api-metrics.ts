import type { LivePullSummary } from '../sources/amplitude-export-api/live.ts';
import { EXPORT_API_METRICS } from './metric-names.ts';

export { EXPORT_API_METRICS };

export interface MetricValue {
  readonly name: (typeof EXPORT_API_METRICS)[keyof typeof EXPORT_API_METRICS];
  readonly unit: 'Count' | 'Bytes' | 'Seconds';
  readonly value: number;
}

/** The values to emit for one run; none for a run that did nothing because another held the lease. */
export function liveMetricValues(summary: LivePullSummary): MetricValue[] {
  if (summary.skipped) return [];
  const m = EXPORT_API_METRICS;
  return [
    { name: m.hoursPulled, unit: 'Count', value: summary.hoursPulled },
    { name: m.filesWritten, unit: 'Count', value: summary.filesWritten },
    { name: m.bytesDownloaded, unit: 'Bytes', value: summary.bytesDownloaded },
    { name: m.failedRequests, unit: 'Count', value: summary.failures.length + (summary.fatal ? 1 : 0) },
    { name: m.gapHours, unit: 'Count', value: summary.gapHours },
    { name: m.oldestGapAgeSeconds, unit: 'Seconds', value: summary.oldestGapAgeSeconds },
    { name: m.abandonedHours, unit: 'Count', value: summary.abandonedHours.length },
  ];
}
