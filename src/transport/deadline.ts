import { parseGoDuration } from "../config/duration.js";
import { BindingTimeoutError, InvalidRequestError } from "../errors.js";

const MILLISECONDS = /^\d+$/;

/**
 * The request's time budget: REQUEST_TIMEOUT, shortened (never lengthened)
 * by the caller's `Binding-Timeout` header.
 */
export function requestBudgetMs(header: string | undefined, defaultMs: number): number {
  if (header === undefined || header === "") return defaultMs;
  const text = header.trim();
  let ms: number;
  try {
    ms = MILLISECONDS.test(text) ? Number(text) : parseGoDuration(text);
  } catch {
    ms = Number.NaN;
  }
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new InvalidRequestError(
      `bad Binding-Timeout ${JSON.stringify(header)}: want a positive duration or milliseconds`,
    );
  }
  return Math.min(ms, defaultMs);
}

/**
 * The absolute deadline of a budget that starts now, in milliseconds on the
 * `performance.now()` clock (monotonic, unlike Date.now()). It goes down to
 * the Redis retry loop (redis/retry.ts) as a plain number: one per request,
 * no AbortController or timer on the hot path. Take it before starting the
 * work that `withDeadline` then bounds, so it never falls after that 504.
 */
export function deadlineAfter(budgetMs: number): number {
  return performance.now() + budgetMs;
}

/** Settles like `work`, or rejects with 504 when the budget runs out first. */
export function withDeadline<T>(
  work: Promise<T>,
  budgetMs: number,
  bindingName: string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new BindingTimeoutError(`binding ${bindingName}: deadline of ${budgetMs}ms passed`)),
      budgetMs,
    );
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
