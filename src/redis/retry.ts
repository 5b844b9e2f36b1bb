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
 * `redisMaxRetryInterval` keep their meaning: before retry n (from 0) wait
 * min + a random share of min * 2^n, never more than max.
 */
export function backoffMs(policy: RetryPolicy, retry: number): number {
  const { minBackoffMs: min, maxBackoffMs: max } = policy;
  if (min <= 0 || max <= 0) return 0;
  const spread = min * 2 ** Math.min(retry, 30);
  return Math.min(min + Math.floor(Math.random() * spread), max);
}

/**
 * Runs `attempt` and retries it while the failure may pass. A command that is
 * not idempotent (INCR) is retried only when it surely never reached Redis:
 * running it twice would count twice.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  idempotent: boolean,
  attempt: () => Promise<T>,
): Promise<T> {
  for (let retry = 0; ; retry++) {
    try {
      return await attempt();
    } catch (error) {
      if (retry >= policy.maxRetries) throw error;
      const failure = classifyFailure(error);
      if (!failure.transient) throw error;
      if (!idempotent && !failure.notExecuted) throw error;
      const wait = backoffMs(policy, retry);
      if (wait > 0) await sleep(wait);
    }
  }
}
