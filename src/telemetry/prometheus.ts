import type { MetricData, ResourceMetrics } from "@opentelemetry/sdk-metrics";

/**
 * Unit words Prometheus expects at the end of a metric name, per the
 * OpenTelemetry-to-Prometheus compatibility rules. The exporter we use does
 * not add them, yet an OpenTelemetry Collector does: without this, the same
 * histogram would be `..._duration` when scraped here and `..._duration_seconds`
 * behind a Collector.
 */
const UNIT_SUFFIXES: Readonly<Record<string, string>> = {
  s: "seconds",
  ms: "milliseconds",
  By: "bytes",
};

/**
 * Prometheus names for the metrics of one collection: the unit suffix
 * appended (`binding.invocation.duration` in seconds becomes
 * `binding_invocation_duration_seconds`), and `{annotation}` units, which are
 * not units at all, dropped. The input is not modified.
 */
export function withPrometheusUnits(collected: ResourceMetrics): ResourceMetrics {
  return {
    resource: collected.resource,
    scopeMetrics: collected.scopeMetrics.map((scope) => ({
      scope: scope.scope,
      metrics: scope.metrics.map(renameForPrometheus),
    })),
  };
}

function renameForPrometheus(metric: MetricData): MetricData {
  const { name, unit } = metric.descriptor;
  if (unit.startsWith("{")) return { ...metric, descriptor: { ...metric.descriptor, unit: "" } };
  const suffix = UNIT_SUFFIXES[unit];
  if (suffix === undefined) return metric;
  const renamed = name.endsWith(`.${suffix}`) || name.endsWith(`_${suffix}`);
  return {
    ...metric,
    descriptor: { ...metric.descriptor, name: renamed ? name : `${name}_${suffix}`, unit: suffix },
  };
}
