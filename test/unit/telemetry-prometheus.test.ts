import { ValueType } from "@opentelemetry/api";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AggregationTemporality,
  DataPointType,
  type MetricData,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";
import { describe, expect, it } from "vitest";
import { withPrometheusUnits } from "../../src/telemetry/prometheus.js";

const metric = (name: string, unit: string): MetricData => ({
  descriptor: { name, unit, description: "", valueType: ValueType.DOUBLE },
  aggregationTemporality: AggregationTemporality.CUMULATIVE,
  dataPointType: DataPointType.SUM,
  isMonotonic: true,
  dataPoints: [],
});

const collected = (...metrics: MetricData[]): ResourceMetrics => ({
  resource: resourceFromAttributes({}),
  scopeMetrics: [{ scope: { name: "test" }, metrics }],
});

const names = (result: ResourceMetrics) =>
  result.scopeMetrics.flatMap((scope) =>
    scope.metrics.map((m) => `${m.descriptor.name}|${m.descriptor.unit}`),
  );

describe("Prometheus names", () => {
  it("appends the unit word Prometheus expects, once", () => {
    const result = withPrometheusUnits(
      collected(
        metric("binding.invocation.duration", "s"),
        metric("already.duration_seconds", "s"),
        metric("payload.size", "By"),
      ),
    );
    expect(names(result)).toEqual([
      "binding.invocation.duration_seconds|seconds",
      "already.duration_seconds|seconds",
      "payload.size_bytes|bytes",
    ]);
  });

  it("drops {annotation} units, which are not units, and leaves other names alone", () => {
    const result = withPrometheusUnits(
      collected(metric("binding.invocations", "{invocation}"), metric("ratio", "1")),
    );
    expect(names(result)).toEqual(["binding.invocations|", "ratio|1"]);
  });

  it("does not change what it was given", () => {
    const input = collected(metric("binding.invocation.duration", "s"));
    withPrometheusUnits(input);
    expect(names(input)).toEqual(["binding.invocation.duration|s"]);
  });
});
