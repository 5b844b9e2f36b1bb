import type { BindingError } from "../../errors.js";

/**
 * What happened to one delivery of a durable request:
 * - `ack`: succeeded (replied, acknowledged);
 * - `term`: failed for good (replied, terminated);
 * - `retry`: failed for a reason that may pass; delivered again later;
 * - `dead-letter`: failed on its last delivery (replied, dead-lettered);
 * - `release`: handed back unprocessed because the worker is stopping;
 * - `abandoned`: its last delivery was never acknowledged (the worker holding
 *   it died); dead-lettered by whichever worker saw the server's advisory.
 */
export type DurableAction = "ack" | "term" | "retry" | "dead-letter" | "release" | "abandoned";

export interface DurableEvent {
  readonly binding: string;
  readonly action: DurableAction;
  /** 1 for the first delivery. */
  readonly deliveryCount: number;
  /** The effect had been applied by an earlier delivery; its recorded outcome was replayed. */
  readonly replayed: boolean;
  /** Time from taking the delivery to settling it (0 for `abandoned`). */
  readonly durationNs: number;
  readonly error: BindingError | undefined;
}

/**
 * The server's counts for one binding's consumer, shared by every worker (the
 * same numbers `$SRV.STATS` shows in `data.durable`).
 */
export interface ConsumerCounts {
  /** Requests in the stream not yet delivered (`num_pending`). */
  readonly pending: number;
  /**
   * Delivered and not yet acknowledged, those waiting out a redelivery delay
   * included (`num_ack_pending`).
   */
  readonly ackPending: number;
  /** Of those, the ones delivered more than once (`num_redelivered`). */
  readonly redelivered: number;
  /** Pull requests waiting for requests, from every worker (`num_waiting`). */
  readonly waiting: number;
}

/** The latest counts known per binding; a binding whose counts are unknown has no entry. */
export type ConsumerCountsSource = () => ReadonlyMap<string, ConsumerCounts>;

/** The hook for metrics: told about every settled delivery. Must not throw. */
export interface DurableObserver {
  deliveryHandled(event: DurableEvent): void;
  /**
   * Told once, when the durable intake is set up, where its consumers' counts
   * can be read. Without it (or without an intake) nobody asks the server
   * for them but `$SRV.STATS`.
   */
  watchConsumers?(source: ConsumerCountsSource): void;
}

export interface DurableCounts {
  acked: number;
  terminated: number;
  retried: number;
  dead_lettered: number;
  released: number;
  abandoned: number;
  replayed: number;
}

/** This worker's counts per binding, for `$SRV.STATS` endpoint data. */
export class DurableCounters implements DurableObserver {
  private readonly counts = new Map<string, DurableCounts>();

  deliveryHandled(event: DurableEvent): void {
    const counts = this.of(event.binding);
    switch (event.action) {
      case "ack":
        counts.acked++;
        break;
      case "term":
        counts.terminated++;
        break;
      case "retry":
        counts.retried++;
        break;
      case "dead-letter":
        counts.dead_lettered++;
        break;
      case "release":
        counts.released++;
        break;
      case "abandoned":
        counts.abandoned++;
        break;
    }
    if (event.replayed) counts.replayed++;
  }

  snapshot(binding: string): DurableCounts {
    return { ...this.of(binding) };
  }

  private of(binding: string): DurableCounts {
    let counts = this.counts.get(binding);
    if (counts === undefined) {
      counts = {
        acked: 0,
        terminated: 0,
        retried: 0,
        dead_lettered: 0,
        released: 0,
        abandoned: 0,
        replayed: 0,
      };
      this.counts.set(binding, counts);
    }
    return counts;
  }
}

/** Tells several observers; one that throws does not keep the others from hearing. */
export function fanOut(observers: readonly DurableObserver[]): DurableObserver {
  const fanned: DurableObserver = {
    deliveryHandled(event) {
      for (const observer of observers) {
        try {
          observer.deliveryHandled(event);
        } catch {
          // An observer's fault must never change what happens to a request.
        }
      }
    },
  };
  const watchers = observers.filter((observer) => observer.watchConsumers !== undefined);
  // Only when one of them watches: the counts are then fetched for nobody.
  if (watchers.length > 0) {
    fanned.watchConsumers = (source) => {
      for (const watcher of watchers) {
        try {
          watcher.watchConsumers?.(source);
        } catch {
          // As above.
        }
      }
    };
  }
  return fanned;
}
