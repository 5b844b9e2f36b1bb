import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type {
  DurableInstrumentation,
  DurableIntakeDescription,
} from "../../telemetry/instrumentation.js";
import type { InFlightGate } from "../in-flight.js";
import { AbandonedWatcher } from "./abandoned.js";
import { ConsumerCountsCache } from "./consumer-counts.js";
import { DeadLetterPublisher } from "./dead-letter.js";
import { DurableIntake, type OnceRunner } from "./intake.js";
import {
  consumerName,
  deadLetterSubject,
  durableSubject,
  durableWildcard,
  streamName,
} from "./names.js";
import { DurableCounters, type DurableObserver, fanOut } from "./observer.js";
import { type DurableSettings, deliveryPlan } from "./plan.js";
import { ensureConsumer, ensureStream, probeJetStream } from "./setup.js";
import { type TestHooks, testHooksFromEnv } from "./test-hooks.js";

export interface DurableBindingSpec {
  readonly name: string;
  readonly settings: DurableSettings;
  /** Builds the Redis side once the plan says how long applied-records must live. */
  readonly runner: (recordTtlMs: number) => OnceRunner;
  readonly log: Logger;
  /** Spans for the binding's deliveries and their Redis calls (telemetry); none when omitted. */
  readonly instrumentation?: (intake: DurableIntakeDescription) => DurableInstrumentation;
}

export interface DurableServiceOptions {
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly queueGroup: string;
  readonly maxRequestBytes: number;
  readonly requestTimeoutMs: number;
  readonly gate: InFlightGate;
  readonly log: Logger;
  /**
   * Told about every settled delivery, and where the consumers' counts are
   * kept when it watches them (metrics).
   */
  readonly observer?: DurableObserver;
  readonly hooks?: TestHooks;
}

/**
 * The durable intake of a whole worker: the JetStream stream, one intake per
 * binding, and the watcher for abandoned requests. Start-up problems never
 * stop the worker: without JetStream (or with a stream it must not touch) it
 * logs why and serves the direct subjects only.
 */
export class DurableService {
  private constructor(
    private readonly prefix: string,
    readonly stream: string,
    private readonly intakes: ReadonlyMap<string, DurableIntake>,
    private readonly counters: DurableCounters,
    private readonly watcher: AbandonedWatcher,
    private readonly consumerCounts: ConsumerCountsCache,
  ) {}

  static async start(
    options: DurableServiceOptions,
    bindings: readonly DurableBindingSpec[],
  ): Promise<DurableService | undefined> {
    const { nc, prefix, log } = options;
    const probe = await probeJetStream(nc);
    if (!probe.available) {
      log.warn(
        { reason: probe.reason },
        "durable intake off: no JetStream; serving the direct subjects only",
      );
      return undefined;
    }
    const { jsm } = probe;
    const js = jsm.jetstream();
    const stream = streamName(prefix);
    const captured = durableWildcard(prefix);
    let epoch: string;
    try {
      epoch = (await ensureStream(jsm, stream, captured)).created;
    } catch (error) {
      log.error(
        { err: error, stream },
        "durable intake off: the stream could not be set up; serving the direct subjects only",
      );
      return undefined;
    }

    const counters = new DurableCounters();
    const observer = fanOut(options.observer ? [counters, options.observer] : [counters]);
    const hooks = options.hooks ?? testHooksFromEnv();
    const deadLetters = new DeadLetterPublisher(nc, jsm);
    const intakes = new Map<string, DurableIntake>();
    for (const binding of bindings) {
      const intake = await DurableService.intakeFor(options, binding, {
        jsm,
        js,
        deadLetters,
        stream,
        captured,
        epoch,
        observer,
        hooks,
      });
      if (intake !== undefined) intakes.set(binding.name, intake);
    }
    const watcher = new AbandonedWatcher({
      nc,
      jsm,
      deadLetters,
      stream,
      prefix,
      queueGroup: options.queueGroup,
      observer,
      log,
    });
    const consumerCounts = new ConsumerCountsCache(
      jsm,
      new Map([...intakes].map(([name, intake]) => [name, intake.config])),
      log,
    );
    // Fetched in the background only for a watcher (metrics), and only when
    // some binding has an intake: otherwise there is nothing to report.
    if (observer.watchConsumers !== undefined && intakes.size > 0) {
      observer.watchConsumers(() => consumerCounts.snapshot());
      consumerCounts.start();
    }
    return new DurableService(prefix, stream, intakes, counters, watcher, consumerCounts);
  }

  private static async intakeFor(
    options: DurableServiceOptions,
    binding: DurableBindingSpec,
    shared: {
      jsm: JetStreamManager;
      js: JetStreamClient;
      deadLetters: DeadLetterPublisher;
      stream: string;
      captured: string;
      epoch: string;
      observer: DurableObserver;
      hooks: TestHooks;
    },
  ): Promise<DurableIntake | undefined> {
    const { jsm, stream } = shared;
    const plan = deliveryPlan(binding.settings, options.requestTimeoutMs);
    const subject = durableSubject(options.prefix, binding.name);
    const spec = { stream, name: consumerName(binding.name), filterSubject: subject, plan };
    try {
      await ensureConsumer(jsm, spec);
    } catch (error) {
      binding.log.error(
        { err: error, subject },
        "durable intake off for this binding: its consumer could not be set up",
      );
      return undefined;
    }
    const instrumentation = binding.instrumentation?.({
      bindingName: binding.name,
      subject,
      stream,
      consumer: spec.name,
    });
    const run = binding.runner(plan.recordTtlMs);
    binding.log.info(
      {
        subject,
        stream,
        consumer: spec.name,
        ackWaitMs: plan.ackWaitMs,
        redeliverIntervalMs: plan.redeliverIntervalMs,
        maxDeliver: plan.maxDeliver,
      },
      plan.redelivery
        ? "durable intake configured"
        : "durable intake configured without redelivery",
    );
    return new DurableIntake(
      {
        bindingName: binding.name,
        stream,
        consumer: spec.name,
        deadLetterSubject: deadLetterSubject(options.prefix, binding.name),
        plan,
        streamEpoch: shared.epoch,
        maxRequestBytes: options.maxRequestBytes,
        requestTimeoutMs: options.requestTimeoutMs,
      },
      {
        nc: options.nc,
        js: shared.js,
        deadLetters: shared.deadLetters,
        run: instrumentation?.runner(run) ?? run,
        gate: options.gate,
        observer: shared.observer,
        hooks: shared.hooks,
        log: binding.log,
        instrumentation,
        reensure: async () => {
          await ensureStream(jsm, stream, shared.captured);
          await ensureConsumer(jsm, spec);
        },
      },
    );
  }

  /** The durable subject of a binding, when its intake is set up. */
  subjectOf(bindingName: string): string | undefined {
    return this.intakes.has(bindingName) ? durableSubject(this.prefix, bindingName) : undefined;
  }

  /** Starts pulling for a binding (once its Redis answers). */
  startIntake(bindingName: string): void {
    this.intakes.get(bindingName)?.start();
  }

  pulling(bindingName: string): boolean {
    return this.intakes.get(bindingName)?.pulling ?? false;
  }

  /**
   * `$SRV.STATS` endpoint data: the consumer's counts from the server (shared
   * by every worker), fetched now (which also refreshes the metrics' copy),
   * and this worker's own.
   */
  async statsData(bindingName: string): Promise<unknown> {
    const intake = this.intakes.get(bindingName);
    if (intake === undefined) return undefined;
    const { stream, consumer } = intake.config;
    let server: Record<string, unknown>;
    try {
      const counts = await this.consumerCounts.fetch(bindingName);
      server = {
        num_pending: counts.pending,
        num_ack_pending: counts.ackPending,
        num_redelivered: counts.redelivered,
        num_waiting: counts.waiting,
      };
    } catch (error) {
      server = { error: (error as Error).message };
    }
    return {
      durable: {
        stream,
        consumer,
        pulling: intake.pulling,
        holding: intake.holding,
        ...server,
        worker: this.counters.snapshot(bindingName),
      },
    };
  }

  /** Stops pulling everywhere; requests already running go on (the worker awaits the gate). */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.intakes.values()].map((intake) => intake.stop()));
  }

  /** After the grace period: hand back what is still held, then stop watching advisories. */
  async close(): Promise<void> {
    this.consumerCounts.stop();
    for (const intake of this.intakes.values()) intake.releaseHeld();
    await this.watcher.stop();
  }
}
