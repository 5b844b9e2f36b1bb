import { setTimeout as sleep } from "node:timers/promises";
import { classifyFailure } from "./failure.js";

export interface RetryPolicy {
  /** Extra attempts after the first; 0 = none. */
  readonly maxRetries: number;
  /** 0 on both bounds = retry at once. */
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
}

/**
 * go-redis's backoff, so a Dapr user's `redisMinRetryInterval` and
 * `redisMaxRetryInterval` keep their meaning: before retry n (go-redis counts
 * the first retry as 1) wait min + a random share of min * 2^n, never more
 * than max.
 */
export function backoffMs(policy: RetryPolicy, retry: number): number {
  const { minBackoffMs: min, maxBackoffMs: max } = policy;
  if (min <= 0 || max <= 0) return 0;
  const spread = min * 2 ** Math.min(retry, 30);
  return Math.min(min + Math.floor(Math.random() * spread), max);
}

/**
 * The request's deadline came before Redis could be reached again: a timeout
 * (504) for the caller, carrying the failure that was being retried.
 */
export class RetriesOutOfTime extends Error {
  override readonly name = "RetriesOutOfTime";
  constructor(readonly lastFailure: unknown) {
    super(
      `deadline passed while retrying: ${lastFailure instanceof Error ? lastFailure.message : String(lastFailure)}`,
      { cause: lastFailure },
    );
  }
}

/**
 * Told about every attempt, so traces can show each one and metrics can count
 * retries without this room importing any telemetry (the worker passes one in).
 */
export interface AttemptObserver {
  /** Runs attempt `retry` (0 = the first); must settle exactly as `run()` does. */
  attempt<T>(retry: number, run: () => Promise<T>): Promise<T>;
  /** Attempt `retry` failed and will be retried after `waitMs`. */
  retrying(retry: number, error: unknown, waitMs: number): void;
}

/**
 * Runs `attempt` and retries it while the failure may pass. A command that is
 * not idempotent (INCR) is retried only when it surely never reached Redis:
 * running it twice would count twice.
 *
 * `deadline` is when the caller stops waiting, in milliseconds on the
 * `performance.now()` clock (transport/deadline.ts `deadlineAfter`); without
 * one, only the policy bounds the retries. No retry starts once it has passed,
 * nor after a backoff that would end past it: by then the caller has its 504,
 * and a write landing later would contradict it. The loop then waits out what
 * is left of the budget and throws RetriesOutOfTime, so the caller hears what
 * the contract promises when retries outlast the deadline (504, at the
 * deadline) and the message names the failure that kept Redis out of reach.
 * The clock is read on failures only, never on the successful first attempt.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  idempotent: boolean,
  attempt: () => Promise<T>,
  observer?: AttemptObserver,
  deadline?: number,
): Promise<T> {
  for (let retry = 0; ; retry++) {
    try {
      return await (observer === undefined ? attempt() : observer.attempt(retry, attempt));
    } catch (error) {
      if (retry >= policy.maxRetries) throw error;
      const failure = classifyFailure(error);
      if (!failure.transient) throw error;
      if (!idempotent && !failure.notExecuted) throw error;
      const wait = backoffMs(policy, retry + 1);
      // A retry that would start at or after the deadline is one nobody waits for.
      if (deadline !== undefined && performance.now() + wait >= deadline) {
        const left = deadline - performance.now();
        if (left > 0) await sleep(left);
        throw new RetriesOutOfTime(error);
      }
      observer?.retrying(retry, error, wait);
      if (wait > 0) await sleep(wait);
    }
  }
}
