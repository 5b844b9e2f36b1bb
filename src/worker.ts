import type { Logger } from "pino";
import { OPERATIONS } from "./binding/invocation.js";
import { BindingRuntime, type BindingRuntimeOptions } from "./binding-runtime.js";
import type { RedisBindingSettings, RuntimeSettings } from "./config/settings.js";
import { describeTarget } from "./config/target.js";
import { HealthServer, type ReadinessReport } from "./telemetry/health-server.js";
import { Telemetry } from "./telemetry/telemetry.js";
import { connectNats, type NatsLink } from "./transport/connection.js";
import { type Discovery, startDiscovery } from "./transport/discovery.js";
import { type DurableObserver, fanOut } from "./transport/durable/observer.js";
import { DurableService } from "./transport/durable/service.js";
import { BindingEndpoint } from "./transport/endpoint.js";
import { InFlightGate } from "./transport/in-flight.js";
import { SERVICE_NAME, VERSION } from "./version.js";

export type WorkerState = "starting" | "running" | "draining" | "stopped";

export interface WorkerOptions {
  readonly runtime: RuntimeSettings;
  readonly bindings: readonly RedisBindingSettings[];
  readonly log: Logger;
  /** Per-binding Redis options (e.g. the Entra ID credential tests inject). */
  readonly redis?: BindingRuntimeOptions;
  /** Told about every settled durable delivery (metrics). */
  readonly durableObserver?: DurableObserver;
  /**
   * Traces and metrics; the worker shuts it down last when it stops. Without
   * one the worker still serves its own metrics, and spans go to whatever
   * tracer provider is registered globally (none: no spans).
   */
  readonly telemetry?: Telemetry;
}

interface ServedBinding {
  readonly runtime: BindingRuntime;
  readonly endpoint: BindingEndpoint;
  /** Settles once the endpoint subscribed (or the worker stopped first). */
  readonly subscribed: Promise<boolean>;
}

/**
 * Wires config, Redis and NATS together and owns the lifecycle:
 * starting -> running -> draining -> stopped. Only this file knows all rooms.
 */
export class Worker {
  private state: WorkerState = "starting";
  private stopping: Promise<void> | undefined;
  private httpPort: number | undefined;
  private durable: DurableService | undefined;

  private constructor(
    private readonly options: WorkerOptions,
    private readonly link: NatsLink,
    private readonly served: readonly ServedBinding[],
    private readonly gate: InFlightGate,
    private readonly discovery: Discovery,
    private readonly health: HealthServer,
    private readonly telemetry: Telemetry,
  ) {}

  static async start(options: WorkerOptions): Promise<Worker> {
    const { runtime, log } = options;
    const telemetry = options.telemetry ?? new Telemetry();
    const link = await connectNats(runtime, `${SERVICE_NAME}-worker`, log);
    telemetry.observeNatsReconnects(() => link.reconnects);
    const gate = new InFlightGate(runtime.maxInFlight);
    const limits = {
      maxRequestBytes: runtime.maxRequestBytes,
      requestTimeoutMs: runtime.requestTimeoutMs,
    };

    const served = options.bindings.map((settings): ServedBinding => {
      const bindingLog = log.child({ binding: settings.name });
      const bindingRuntime = new BindingRuntime(
        settings,
        bindingLog,
        options.redis,
        telemetry.redis(settings),
      );
      const subject = `${runtime.subjectPrefix}.${settings.name}`;
      const endpointConfig = {
        bindingName: settings.name,
        subject,
        queueGroup: runtime.queueGroup,
      };
      const endpoint = new BindingEndpoint(
        link.nc,
        endpointConfig,
        bindingRuntime.run,
        limits,
        gate,
        bindingRuntime,
        bindingLog,
        telemetry.requests(endpointConfig),
      );
      bindingLog.info({ subject, redis: describeTarget(settings) }, "binding configured");
      // Subscribe only once Redis answers: until then callers get no-responders
      // rather than a worker that can only fail.
      const subscribed = bindingRuntime.waitForRedis().then(async (ok) => {
        if (!ok || link.nc.isClosed() || link.nc.isDraining()) return false;
        endpoint.start();
        // The server has the subscription once a round trip has passed.
        await link.nc.flush().catch(() => {});
        bindingLog.info({ subject, queueGroup: runtime.queueGroup }, "binding serving");
        return true;
      });
      return { runtime: bindingRuntime, endpoint, subscribed };
    });

    // Durable intake (PROTOCOL section 6), set up before discovery so INFO can
    // name the durable subjects. A binding starts pulling once its Redis
    // answers, as its subscription does.
    const durable = runtime.durable
      ? await DurableService.start(
          {
            nc: link.nc,
            prefix: runtime.subjectPrefix,
            queueGroup: runtime.queueGroup,
            maxRequestBytes: runtime.maxRequestBytes,
            requestTimeoutMs: runtime.requestTimeoutMs,
            gate,
            log,
            observer: fanOut([
              telemetry.durableDeliveries(),
              ...(options.durableObserver ? [options.durableObserver] : []),
            ]),
          },
          served.map(({ runtime: binding }) => ({
            name: binding.settings.name,
            settings: binding.settings,
            runner: (recordTtlMs: number) => binding.onceRunner(recordTtlMs),
            log: log.child({ binding: binding.settings.name }),
            instrumentation: (intake) => telemetry.durableRequests(binding.settings, intake),
          })),
        )
      : undefined;
    for (const { runtime: binding, subscribed } of served) {
      void subscribed.then((ok) => {
        if (ok) durable?.startIntake(binding.settings.name);
      });
    }

    const discovery = startDiscovery(
      link.nc,
      {
        name: SERVICE_NAME,
        version: VERSION,
        description: "Dapr Redis output bindings over NATS",
        endpoints: served.map(({ endpoint }) => ({
          name: endpoint.config.bindingName,
          subject: endpoint.config.subject,
          queueGroup: endpoint.config.queueGroup,
          metadata: withDurableSubject(
            { operations: OPERATIONS.join(","), type: "bindings.redis" },
            durable?.subjectOf(endpoint.config.bindingName),
          ),
        })),
      },
      (name) => served.find(({ endpoint }) => endpoint.config.bindingName === name)?.runtime.stats,
      {
        onError: (error) => log.warn({ err: error }, "discovery error"),
        statsData: durable ? (endpoint) => durable.statsData(endpoint.name) : undefined,
      },
    );

    await link.nc.flush();
    const health = new HealthServer({
      readiness: (): ReadinessReport => worker.readiness(),
      metrics: () => telemetry.metricsText(),
    });
    const worker: Worker = new Worker(options, link, served, gate, discovery, health, telemetry);
    worker.durable = durable;
    if (runtime.httpPort !== 0) {
      worker.httpPort = await worker.health.listen(runtime.httpPort);
      log.info({ port: worker.httpPort }, "health endpoints listening");
    }
    worker.state = "running";
    return worker;
  }

  get status(): WorkerState {
    return this.state;
  }

  /** The HTTP port actually bound (useful when HTTP_PORT asked for any free one). */
  get boundHttpPort(): number | undefined {
    return this.httpPort;
  }

  get discoveryId(): string {
    return this.discovery.id;
  }

  get inFlight(): number {
    return this.gate.size;
  }

  /** Resolves once every binding whose Redis answered has subscribed. */
  async whenServing(): Promise<void> {
    await Promise.all(this.served.map(({ subscribed }) => subscribed));
  }

  readiness(): ReadinessReport {
    const redis: Record<string, boolean> = {};
    const subscriptions: Record<string, boolean> = {};
    for (const { runtime, endpoint } of this.served) {
      redis[runtime.settings.name] = runtime.redisReady;
      subscriptions[runtime.settings.name] = endpoint.subscribed;
    }
    const checks = {
      nats: this.link.connected,
      redis,
      subscriptions,
      draining: this.state !== "running",
    };
    const ready =
      checks.nats &&
      !checks.draining &&
      Object.values(redis).every(Boolean) &&
      Object.values(subscriptions).every(Boolean);
    return { ready, checks };
  }

  /**
   * Graceful stop: no new requests, every accepted one answered (within the
   * grace period), then Redis and NATS closed. `nc.drain()` alone would not
   * wait for our asynchronous handlers, so their replies would be lost.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const { log, runtime } = this.options;
    this.state = "draining";
    log.info({ inFlight: this.gate.size }, "draining");
    await Promise.allSettled([
      ...this.served.map(({ endpoint }) => endpoint.stop()),
      this.durable?.stop(),
    ]);
    const finished = await this.gate.idle(runtime.shutdownGraceMs);
    if (!finished) {
      log.warn(
        { inFlight: this.gate.size, graceMs: runtime.shutdownGraceMs },
        "grace period over; stopping anyway",
      );
    }
    // A durable request still held goes back to the stream now, not after processingTimeout.
    await this.durable?.close();
    await this.discovery.stop().catch(() => {});
    await Promise.allSettled(this.served.map(({ runtime: binding }) => binding.close()));
    if (!this.link.nc.isClosed()) {
      await this.link.nc.drain().catch(async (error: unknown) => {
        log.warn({ err: error }, "NATS drain failed");
        // A failed drain (NATS unreachable at the time) leaves the connection
        // reconnecting forever, and its timers would keep the process alive
        // after "stopped": close it outright.
        await this.link.nc.close().catch(() => {});
      });
    }
    await this.health.close();
    // Last, so the final metric export and span flush include the drain.
    await this.telemetry.shutdown();
    this.state = "stopped";
    log.info("stopped");
  }
}

/** Discovery INFO names a binding's durable subject when its intake is set up. */
function withDurableSubject(
  metadata: Record<string, string>,
  durableSubject: string | undefined,
): Record<string, string> {
  return durableSubject === undefined ? metadata : { ...metadata, durable_subject: durableSubject };
}
