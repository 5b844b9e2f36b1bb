import { diag } from "@opentelemetry/api";
import { getNumberFromEnv, getStringFromEnv, getStringListFromEnv } from "@opentelemetry/core";
import {
  type IMetricReader,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from "@opentelemetry/sdk-metrics";

const DEFAULT_INTERVAL_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * The OTLP metric reader the OTEL_* variables ask for, if any. The SDK would
 * build it too, but only into a global MeterProvider; the worker's metrics
 * live in its own provider (metrics.ts), next to the Prometheus reader, so
 * the same rules are applied here:
 *
 * - OTEL_METRICS_EXPORTER `otlp` (or unset while an OTLP endpoint is set)
 *   exports every OTEL_METRIC_EXPORT_INTERVAL (60 s) and once more at stop;
 * - `prometheus` needs nothing: `/metrics` on HTTP_PORT always serves it;
 * - `none`, or nothing set: no push at all, so no network traffic.
 *
 * Exporters are loaded only when used.
 */
export async function otlpMetricReaders(): Promise<IMetricReader[]> {
  const names = getStringListFromEnv("OTEL_METRICS_EXPORTER") ?? [];
  const wanted = names.length > 0 ? names : otlpEndpointSet("METRICS") ? ["otlp"] : [];
  if (wanted.includes("none")) return [];
  for (const name of wanted) {
    if (name !== "otlp" && name !== "prometheus") {
      diag.warn(`OTEL_METRICS_EXPORTER "${name}" is not supported here; use otlp or prometheus`);
    }
  }
  if (!wanted.includes("otlp")) return [];
  const interval = getNumberFromEnv("OTEL_METRIC_EXPORT_INTERVAL") ?? DEFAULT_INTERVAL_MS;
  const timeout = getNumberFromEnv("OTEL_METRIC_EXPORT_TIMEOUT") ?? DEFAULT_TIMEOUT_MS;
  let exporter: PushMetricExporter;
  try {
    exporter = await otlpMetricExporter();
  } catch (error) {
    // Serving requests matters more than pushing metrics; /metrics still works.
    diag.error(`no OTLP metric export: ${(error as Error).message}`);
    return [];
  }
  return [
    new PeriodicExportingMetricReader({
      exporter,
      exportIntervalMillis: interval,
      // The reader refuses a timeout longer than its interval.
      exportTimeoutMillis: Math.min(timeout, interval),
    }),
  ];
}

/** Whether OTEL_EXPORTER_OTLP_ENDPOINT or its per-signal form names a collector. */
export function otlpEndpointSet(signal: "TRACES" | "METRICS"): boolean {
  return (
    getStringFromEnv("OTEL_EXPORTER_OTLP_ENDPOINT") !== undefined ||
    getStringFromEnv(`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`) !== undefined
  );
}

/** The exporter for OTEL_EXPORTER_OTLP_(METRICS_)PROTOCOL; it reads its endpoint and headers itself. */
async function otlpMetricExporter(): Promise<PushMetricExporter> {
  const protocol =
    getStringFromEnv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL") ??
    getStringFromEnv("OTEL_EXPORTER_OTLP_PROTOCOL") ??
    "http/protobuf";
  switch (protocol) {
    case "http/json":
      return new (await import("@opentelemetry/exporter-metrics-otlp-http")).OTLPMetricExporter();
    case "grpc":
      return new (await import("@opentelemetry/exporter-metrics-otlp-grpc")).OTLPMetricExporter();
    case "http/protobuf":
      return new (await import("@opentelemetry/exporter-metrics-otlp-proto")).OTLPMetricExporter();
    default:
      diag.warn(`unsupported OTLP metrics protocol "${protocol}"; using http/protobuf`);
      return new (await import("@opentelemetry/exporter-metrics-otlp-proto")).OTLPMetricExporter();
  }
}
