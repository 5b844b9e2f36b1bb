import { context, propagation } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  CompositePropagator,
  getBooleanFromEnv,
  getStringListFromEnv,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from "@opentelemetry/core";
import type { SpanProcessor } from "@opentelemetry/sdk-trace";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import type { Logger } from "pino";
import { routeDiagnostics } from "./diagnostics.js";
import { otlpEndpointSet, otlpMetricReaders } from "./otlp-metrics.js";
import { workerResource } from "./resource.js";
import { Telemetry } from "./telemetry.js";

export interface StartTelemetryOptions {
  /** Where the SDK's own warnings go. */
  readonly log: Logger;
  /** Instead of the exporters OTEL_TRACES_EXPORTER names (tests pass an in-memory one). */
  readonly spanProcessors?: SpanProcessor[];
}

/**
 * Starts @opentelemetry/sdk-node from the standard OTEL_* variables
 * (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_EXPORTER,
 * OTEL_EXPORTER_OTLP_*, OTEL_TRACES_SAMPLER(_ARG), OTEL_PROPAGATORS,
 * OTEL_SDK_DISABLED, ...) and returns the worker's Telemetry, whose
 * shutdown() flushes it.
 *
 * One deliberate difference from the SDK: it exports traces to
 * localhost:4318 when nothing is configured. Here, with neither
 * OTEL_TRACES_EXPORTER nor an OTLP endpoint set, no span is even recorded
 * (no tracer provider), so an unconfigured worker sends nothing anywhere and
 * pays next to nothing. Trace context is still read from requests, so log
 * lines carry the caller's trace id either way. Logs stay on stdout (pino),
 * never OTLP.
 *
 * Order: no module is patched (Redis spans come from redis-tracing.ts, not
 * from an instrumentation hooking ioredis), so this only has to run before
 * the worker takes its first request, which `run` ensures.
 */
export async function startTelemetry(options: StartTelemetryOptions): Promise<Telemetry> {
  const resource = workerResource();
  const metricReaders = getBooleanFromEnv("OTEL_SDK_DISABLED") ? [] : await otlpMetricReaders();
  if (options.spanProcessors === undefined && !tracesExportConfigured()) {
    // Nothing will record a span: skip the SDK, whose exporters and their
    // dependencies cost some 30 MB of memory for nothing. Reading the caller's
    // trace context for log lines needs only a propagator and a context manager.
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(
      new CompositePropagator({
        propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
      }),
    );
    routeDiagnostics(options.log);
    return new Telemetry({ resource, metricReaders, onShutdown: async () => {} });
  }
  const { startNodeSdk } = await import("@opentelemetry/sdk-node");
  const sdk = startNodeSdk({
    // Until routeDiagnostics() below takes over, the SDK writes to the
    // console; keep that to warnings (its own default is info) unless asked.
    logLevel: process.env.OTEL_LOG_LEVEL?.trim() || "warn",
    baseResource: resource,
    // workerResource() already applied the detectors and the environment;
    // the service name is passed again because it must outrank them all.
    resourceDetectors: [],
    resourceAttributes: { [ATTR_SERVICE_NAME]: resource.attributes[ATTR_SERVICE_NAME] },
    spanProcessors: options.spanProcessors ?? (tracesExportConfigured() ? undefined : []),
    // Metrics belong to the worker's own MeterProvider (metrics.ts).
    metricReaders: [],
    logRecordProcessors: [],
  });
  // startNodeSdk installs a console logger; ours keeps stdout JSON.
  routeDiagnostics(options.log);
  return new Telemetry({ resource, metricReaders, onShutdown: () => sdk.shutdown() });
}

function tracesExportConfigured(): boolean {
  return (
    (getStringListFromEnv("OTEL_TRACES_EXPORTER") ?? []).length > 0 || otlpEndpointSet("TRACES")
  );
}
