import type { Attributes, Counter, Histogram } from "@opentelemetry/api";
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus";
import type { Resource } from "@opentelemetry/resources";
import { type IMetricReader, MeterProvider } from "@opentelemetry/sdk-metrics";
import type { ConsumerCountsSource } from "../transport/durable/observer.js";
import { VERSION } from "../version.js";
import { withPrometheusUnits } from "./prometheus.js";
import {
  METRIC_ATTR_ACTION,
  METRIC_ATTR_BINDING,
  METRIC_ATTR_CODE,
  METRIC_ATTR_OPERATION,
} from "./semconv.js";

/**
 * Seconds. Redis answers in well under a millisecond, so the buckets start
 * finer than OpenTelemetry's default ones (which assume milliseconds).
 */
const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** The instrument names; README "Observability" lists them as Prometheus shows them. */
export const METRIC_NAMES = Object.freeze({
  invocations: "binding.invocations",
  duration: "binding.invocation.duration",
  inFlight: "binding.invocations.in_flight",
  redisRetries: "binding.redis.retries",
  redeliveries: "binding.redeliveries",
  durableDeliveries: "binding.durable.deliveries",
  durableConsumerMessages: "binding.durable.consumer.messages",
  durableConsumerRedelivered: "binding.durable.consumer.redelivered",
  durableConsumerWaitingPulls: "binding.durable.consumer.waiting_pulls",
  natsReconnects: "nats.reconnects",
});

/**
 * The `state` label of binding.durable.consumer.messages: where a durable
 * request not yet acknowledged is. The two add up to all of them.
 */
const METRIC_ATTR_STATE = "state";

export interface MetricsOptions {
  /** Attached to OTLP exports (and Prometheus's target_info). */
  readonly resource?: Resource;
  /** More readers, e.g. a periodic OTLP exporter; Prometheus is always there. */
  readonly readers?: readonly IMetricReader[];
}

/**
 * One worker's metrics. Each worker owns its MeterProvider rather than using
 * the global one, so several workers in one process (tests) count apart and
 * `/metrics` shows exactly what this worker did.
 */
export class WorkerMetrics {
  private readonly provider: MeterProvider;
  private readonly prometheus: PrometheusExporter;
  private readonly serializer: PrometheusSerializer;
  /** binding -> operation -> reply code -> requests answered. */
  private readonly invocations = new Map<string, InvocationCounts>();
  private readonly duration: Histogram;
  private readonly retries: Counter;
  private readonly redeliveries: Counter;
  private readonly durableDeliveries: Counter;
  /** Per binding; read by an observable instrument, so the hot path only adds and subtracts. */
  private readonly inFlight = new Map<string, { count: number }>();
  private natsReconnects: () => number = () => 0;
  /** The durable consumers' counts, once the durable intake is set up; none until then. */
  private durableConsumers: ConsumerCountsSource = () => new Map();

  constructor(options: MetricsOptions = {}) {
    // The worker's health server serves /metrics; the exporter must not open its own port.
    this.prometheus = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
    this.serializer = new PrometheusSerializer("", false, undefined, false, true);
    this.provider = new MeterProvider({
      ...(options.resource !== undefined ? { resource: options.resource } : {}),
      readers: [this.prometheus, ...(options.readers ?? [])],
    });
    const meter = this.provider.getMeter("redis-binding-worker", VERSION);
    // Counted in plain maps and read at collection time: an SDK counter would
    // hash its attribute set on every request, for a number only scrapes read.
    meter
      .createObservableCounter(METRIC_NAMES.invocations, {
        description: "Requests answered, by binding, operation and reply code",
        unit: "{invocation}",
      })
      .addCallback((result) => {
        for (const [binding, counts] of this.invocations) {
          for (const [operation, byCode] of counts) {
            for (const [code, count] of byCode) {
              result.observe(count, {
                [METRIC_ATTR_BINDING]: binding,
                [METRIC_ATTR_OPERATION]: operation,
                [METRIC_ATTR_CODE]: code,
              });
            }
          }
        }
      });
    this.duration = meter.createHistogram(METRIC_NAMES.duration, {
      description: "Time from a request's arrival to its reply",
      unit: "s",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    this.retries = meter.createCounter(METRIC_NAMES.redisRetries, {
      description: "Redis command attempts that failed and were retried",
      unit: "{retry}",
    });
    this.redeliveries = meter.createCounter(METRIC_NAMES.redeliveries, {
      description: "Durable request deliveries handled that were not the first delivery",
      unit: "{delivery}",
    });
    this.durableDeliveries = meter.createCounter(METRIC_NAMES.durableDeliveries, {
      description: "Durable request deliveries settled, by what became of them",
      unit: "{delivery}",
    });
    meter
      .createObservableUpDownCounter(METRIC_NAMES.inFlight, {
        description: "Requests accepted and not yet answered",
        unit: "{invocation}",
      })
      .addCallback((result) => {
        for (const [binding, counter] of this.inFlight) {
          result.observe(counter.count, { [METRIC_ATTR_BINDING]: binding });
        }
      });
    meter
      .createObservableCounter(METRIC_NAMES.natsReconnects, {
        description: "Reconnections to NATS since the worker started",
        unit: "{reconnect}",
      })
      .addCallback((result) => result.observe(this.natsReconnects()));
    // The server's counts for each binding's durable consumer, as last
    // fetched in the background (transport/durable/consumer-counts.ts):
    // reading them costs JetStream nothing. Gauges, not sums: every worker
    // reports the same consumer, so they are not added up across workers.
    const messages = meter.createObservableGauge(METRIC_NAMES.durableConsumerMessages, {
      description:
        "Durable requests not yet acknowledged, from the server's consumer shared by all workers: " +
        "pending (not yet delivered) or ack_pending (delivered, awaiting acknowledgement or a redelivery)",
      unit: "{message}",
    });
    const redelivered = meter.createObservableGauge(METRIC_NAMES.durableConsumerRedelivered, {
      description:
        "Durable requests delivered more than once and not yet acknowledged (some of the ack_pending ones)",
      unit: "{message}",
    });
    const waitingPulls = meter.createObservableGauge(METRIC_NAMES.durableConsumerWaitingPulls, {
      description: "Pull requests waiting at the durable consumer for requests, from all workers",
      unit: "{request}",
    });
    meter.addBatchObservableCallback(
      (result) => {
        for (const [binding, counts] of this.durableConsumers()) {
          result.observe(messages, counts.pending, {
            [METRIC_ATTR_BINDING]: binding,
            [METRIC_ATTR_STATE]: "pending",
          });
          result.observe(messages, counts.ackPending, {
            [METRIC_ATTR_BINDING]: binding,
            [METRIC_ATTR_STATE]: "ack_pending",
          });
          result.observe(redelivered, counts.redelivered, { [METRIC_ATTR_BINDING]: binding });
          result.observe(waitingPulls, counts.waiting, { [METRIC_ATTR_BINDING]: binding });
        }
      },
      [messages, redelivered, waitingPulls],
    );
  }

  /** The counters of one binding. */
  binding(name: string): BindingMetrics {
    let inFlight = this.inFlight.get(name);
    if (inFlight === undefined) {
      inFlight = { count: 0 };
      this.inFlight.set(name, inFlight);
    }
    let invocations = this.invocations.get(name);
    if (invocations === undefined) {
      invocations = new Map();
      this.invocations.set(name, invocations);
    }
    return new BindingMetrics(name, inFlight, invocations, this.duration, this.retries);
  }

  /**
   * A durable delivery was settled. `action` is one of the intake's few
   * outcomes (ack, term, retry, dead-letter, release, abandoned).
   */
  durableDelivery(binding: string, action: string, redelivery: boolean): void {
    this.durableDeliveries.add(1, {
      [METRIC_ATTR_BINDING]: binding,
      [METRIC_ATTR_ACTION]: action,
    });
    if (redelivery) this.redeliveries.add(1, { [METRIC_ATTR_BINDING]: binding });
  }

  /** Where the durable consumers' counts come from (the durable intake keeps them). */
  observeDurableConsumers(source: ConsumerCountsSource): void {
    this.durableConsumers = source;
  }

  /** Where the NATS reconnect count comes from (the connection keeps it). */
  observeNatsReconnects(source: () => number): void {
    this.natsReconnects = source;
  }

  /** The Prometheus text exposition of every metric, for `/metrics`. */
  async prometheusText(): Promise<string> {
    const { resourceMetrics } = await this.prometheus.collect();
    return this.serializer.serialize(withPrometheusUnits(resourceMetrics));
  }

  /** Final export to the push readers (OTLP); idempotent. */
  async shutdown(): Promise<void> {
    await this.provider.shutdown().catch(() => {});
  }
}

/** operation -> reply code -> count, for one binding. */
type InvocationCounts = Map<string, Map<number, number>>;

/** One binding's view of the metrics; attributes are built here, never by callers. */
export class BindingMetrics {
  private readonly bindingOnly: Attributes;

  constructor(
    private readonly name: string,
    private readonly inFlight: { count: number },
    private readonly invocations: InvocationCounts,
    private readonly duration: Histogram,
    private readonly retries: Counter,
  ) {
    this.bindingOnly = Object.freeze({ [METRIC_ATTR_BINDING]: name });
  }

  started(): void {
    this.inFlight.count++;
  }

  /** `operation` must be one of a few known names ("unknown" otherwise): it becomes a label. */
  finished(operation: string, code: number, seconds: number): void {
    this.inFlight.count--;
    let byCode = this.invocations.get(operation);
    if (byCode === undefined) {
      byCode = new Map();
      this.invocations.set(operation, byCode);
    }
    byCode.set(code, (byCode.get(code) ?? 0) + 1);
    this.duration.record(seconds, this.attributesFor(operation, code));
  }

  /** One frozen attribute set per (operation, code), built once. */
  private readonly attributeSets = new Map<string, Attributes>();

  private attributesFor(operation: string, code: number): Attributes {
    const id = `${operation}|${code}`;
    let attributes = this.attributeSets.get(id);
    if (attributes === undefined) {
      attributes = Object.freeze({
        [METRIC_ATTR_BINDING]: this.name,
        [METRIC_ATTR_OPERATION]: operation,
        [METRIC_ATTR_CODE]: code,
      });
      this.attributeSets.set(id, attributes);
    }
    return attributes;
  }

  retried(): void {
    this.retries.add(1, this.bindingOnly);
  }
}
