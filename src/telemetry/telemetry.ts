import { type Tracer, trace } from "@opentelemetry/api";
import type { Resource } from "@opentelemetry/resources";
import type { IMetricReader } from "@opentelemetry/sdk-metrics";
import type { RedisBindingSettings } from "../config/settings.js";
import type { DurableObserver } from "../transport/durable/observer.js";
import { VERSION } from "../version.js";
import { DeliveryTracing } from "./delivery-tracing.js";
import { DurableMetrics } from "./durable-metrics.js";
import type {
  DurableInstrumentation,
  DurableIntakeDescription,
  RequestInstrumentation,
} from "./instrumentation.js";
import { WorkerMetrics } from "./metrics.js";
import { type RedisTarget, RedisTracing } from "./redis-tracing.js";
import { type EndpointDescription, RequestTracing } from "./request-tracing.js";
import { DEFAULT_SERVICE_NAME, workerResource } from "./resource.js";

export interface TelemetryOptions {
  readonly resource?: Resource;
  /** Push readers (OTLP) next to the Prometheus one every worker has. */
  readonly metricReaders?: readonly IMetricReader[];
  /** Stops whatever started the SDK (flushing spans); runs last in shutdown(). */
  readonly onShutdown?: () => Promise<void>;
}

/**
 * A worker's telemetry: what worker.ts hands to the transport and to Redis.
 * Spans go to the global tracer provider, so without an SDK they cost next to
 * nothing; metrics are the worker's own (see WorkerMetrics).
 */
export class Telemetry {
  private readonly metrics: WorkerMetrics;
  private readonly tracer: Tracer;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: TelemetryOptions = {}) {
    this.metrics = new WorkerMetrics({
      resource: options.resource ?? workerResource(),
      ...(options.metricReaders !== undefined ? { readers: options.metricReaders } : {}),
    });
    this.tracer = trace.getTracer(DEFAULT_SERVICE_NAME, VERSION);
  }

  /** Spans and metrics for one binding's requests. */
  requests(endpoint: EndpointDescription): RequestInstrumentation {
    return new RequestTracing(this.tracer, this.metrics.binding(endpoint.bindingName), endpoint);
  }

  /** CLIENT spans and retry counts for one binding's Redis commands. */
  redis(settings: RedisBindingSettings): RedisTracing {
    return new RedisTracing(
      this.tracer,
      this.metrics.binding(settings.name),
      redisTarget(settings),
    );
  }

  /**
   * Spans for one binding's durable deliveries, with its Redis calls (through
   * the at-most-once runner) as their children.
   */
  durableRequests(
    settings: RedisBindingSettings,
    intake: DurableIntakeDescription,
  ): DurableInstrumentation {
    return new DeliveryTracing(this.tracer, intake, this.redis(settings));
  }

  /** Counts the durable intake's deliveries and redeliveries. */
  durableDeliveries(): DurableObserver {
    return new DurableMetrics(this.metrics);
  }

  observeNatsReconnects(source: () => number): void {
    this.metrics.observeNatsReconnects(source);
  }

  /** For `/metrics`. */
  metricsText(): Promise<string> {
    return this.metrics.prometheusText();
  }

  /** Last export of metrics, then the SDK's flush; once, however often called. */
  shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      await this.metrics.shutdown();
      await this.options.onShutdown?.().catch(() => {});
    })();
    return this.stopping;
  }
}

/** A server address on spans only where one node is all there is. */
function redisTarget(settings: RedisBindingSettings): RedisTarget {
  const first = settings.addresses[0];
  const singleNode = settings.redisType === "node" && !settings.failover && first !== undefined;
  return singleNode ? { db: settings.redisDB, address: first } : { db: settings.redisDB };
}
