import type { ConsumerInfo, JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { ConsumerCounts } from "./observer.js";

/** How often the counts are fetched for metrics: one consumer-info request per binding. */
export const CONSUMER_COUNTS_REFRESH_MS = 5_000;
/**
 * Counts last read longer ago than this are not reported any more (NATS out
 * of reach, consumer gone): an old number would pass for a current one.
 */
export const CONSUMER_COUNTS_FORGET_MS = 30_000;

export interface WatchedConsumer {
  readonly stream: string;
  readonly consumer: string;
}

export interface ConsumerCountsOptions {
  readonly refreshMs?: number;
  readonly forgetMs?: number;
}

/**
 * The server's counts for each binding's consumer (`num_pending`,
 * `num_ack_pending`, ...), kept for metrics. They are fetched in the
 * background every few seconds, not when metrics are read, so a scrape or an
 * OTLP export never waits for JetStream and costs it nothing; every
 * `$SRV.STATS` answer refreshes them too.
 */
export class ConsumerCountsCache {
  private readonly latest = new Map<string, { counts: ConsumerCounts; at: number }>();
  /** The last failure logged per binding, so an outage is logged once, not every refresh. */
  private readonly failing = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing = false;
  private readonly refreshMs: number;
  private readonly forgetMs: number;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly consumers: ReadonlyMap<string, WatchedConsumer>,
    private readonly log: Logger,
    options: ConsumerCountsOptions = {},
  ) {
    this.refreshMs = options.refreshMs ?? CONSUMER_COUNTS_REFRESH_MS;
    this.forgetMs = options.forgetMs ?? CONSUMER_COUNTS_FORGET_MS;
  }

  /** Fetches now, then every refreshMs until stop(); the timer never keeps the process alive. */
  start(): void {
    if (this.timer !== undefined) return;
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Asks the server for one binding's consumer info now, and keeps its counts. Rejects as the request does. */
  async fetch(binding: string): Promise<ConsumerCounts> {
    const watched = this.consumers.get(binding);
    if (watched === undefined) throw new Error(`no durable consumer for binding ${binding}`);
    const info = await this.jsm.consumers.info(watched.stream, watched.consumer);
    const counts = countsOf(info);
    this.latest.set(binding, { counts, at: performance.now() });
    if (this.failing.delete(binding)) {
      this.log.debug({ binding }, "durable consumer counts readable again");
    }
    return counts;
  }

  /** The counts read within forgetMs, per binding. */
  snapshot(): ReadonlyMap<string, ConsumerCounts> {
    const oldest = performance.now() - this.forgetMs;
    const known = new Map<string, ConsumerCounts>();
    for (const [binding, { counts, at }] of this.latest) {
      if (at >= oldest) known.set(binding, counts);
    }
    return known;
  }

  /** One fetch per binding, in parallel; skipped while the previous round still runs. */
  private async refresh(): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      await Promise.all(
        [...this.consumers.keys()].map((binding) =>
          this.fetch(binding).catch((error: unknown) => this.failed(binding, error)),
        ),
      );
    } finally {
      this.refreshing = false;
    }
  }

  private failed(binding: string, error: unknown): void {
    const text = error instanceof Error ? error.message : String(error);
    if (this.failing.get(binding) === text) return;
    this.failing.set(binding, text);
    this.log.debug({ binding, cause: text }, "durable consumer counts not read; keeping the last");
  }
}

function countsOf(info: ConsumerInfo): ConsumerCounts {
  return {
    pending: info.num_pending,
    ackPending: info.num_ack_pending,
    redelivered: info.num_redelivered,
    waiting: info.num_waiting,
  };
}
