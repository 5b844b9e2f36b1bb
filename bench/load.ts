import type { NatsConnection } from "@nats-io/transport-node";
import { LatencyRecorder, nowMicros } from "./latency.js";
import type { Workload } from "./workload.js";

export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly seconds: number;
  readonly throughput: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
}

export const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Sends one request and settles once its reply is in: true when the reply is
 * an error. Rejects when no reply came. The loops below measure any intake
 * through this, so direct and durable runs share one load generator.
 */
export type Send = (payload: Uint8Array) => Promise<boolean>;

export function isErrorReply(headers: { get(name: string): string } | undefined): boolean {
  return Boolean(headers?.get("Nats-Service-Error-Code"));
}

/** Plain NATS request-reply on `subject`: the direct intake. */
export function directSend(nc: NatsConnection, subject: string): Send {
  return (payload) =>
    nc
      .request(subject, payload, { timeout: REQUEST_TIMEOUT_MS })
      .then((reply) => isErrorReply(reply.headers));
}

function summarise(latency: LatencyRecorder, errors: number, seconds: number): LoadResult {
  const [p50, p99, p999] = latency.percentiles(50, 99, 99.9);
  return {
    requests: latency.count,
    errors,
    seconds,
    throughput: latency.count / seconds,
    p50Us: p50 ?? Number.NaN,
    p99Us: p99 ?? Number.NaN,
    p999Us: p999 ?? Number.NaN,
  };
}

/**
 * Closed loop: `concurrency` callers, each sending its next request as soon
 * as the previous reply arrives, for `durationMs`.
 */
export async function closedLoop(
  send: Send,
  work: Workload,
  concurrency: number,
  durationMs: number,
): Promise<LoadResult> {
  const latency = new LatencyRecorder();
  let errors = 0;
  let next = 0;
  const started = nowMicros();
  const stopAt = started + durationMs * 1000;
  const caller = async () => {
    while (nowMicros() < stopAt) {
      const payload = work.payload(next++);
      const sent = nowMicros();
      try {
        if (await send(payload)) errors++;
      } catch {
        errors++;
      }
      latency.record(nowMicros() - sent);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  return summarise(latency, errors, (nowMicros() - started) / 1e6);
}

/**
 * Open loop at a fixed rate: request i is due at start + i/rate, and its
 * latency counts from when it was due, not when it went out, so a stall
 * shows up in the percentiles instead of silently lowering the rate
 * (no coordinated omission).
 */
export async function openLoop(
  send: Send,
  work: Workload,
  ratePerSecond: number,
  durationMs: number,
): Promise<LoadResult> {
  const latency = new LatencyRecorder();
  let errors = 0;
  const total = Math.floor((ratePerSecond * durationMs) / 1000);
  const intervalUs = 1e6 / ratePerSecond;
  const started = nowMicros();
  const pending: Promise<void>[] = [];
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const dueCount = Math.min(total, Math.floor((nowMicros() - started) / intervalUs) + 1);
      while (sent < dueCount) {
        const dueAt = started + sent * intervalUs;
        const payload = work.payload(sent++);
        pending.push(
          send(payload).then(
            (failed) => {
              if (failed) errors++;
              latency.record(nowMicros() - dueAt);
            },
            () => {
              errors++;
              latency.record(nowMicros() - dueAt);
            },
          ),
        );
      }
      if (sent >= total) resolve();
      // A timer, not setImmediate: a spinning generator would steal the core the target needs.
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(pending);
  return summarise(latency, errors, durationMs / 1000);
}
