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

/** The hook for metrics: told about every settled delivery. Must not throw. */
export interface DurableObserver {
  deliveryHandled(event: DurableEvent): void;
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
  return {
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
}
