import type { Logger } from "pino";
import { tlsFailure } from "./tls-failure.js";
import type { ConnectionEvents } from "./topology.js";

/** A failure that persists is logged again at most this often (with a count). */
const REPEAT_INTERVAL_MS = 30_000;
/** Distinct failures remembered for rate limiting; more are rare and just reset it. */
const MAX_REMEMBERED = 100;

const AUTH_FAILURE = /^(WRONGPASS|NOAUTH|NOPERM|ERR invalid password|ERR AUTH)/;

/**
 * How ioredis reports what a Sentinel answered: wrapped, once per Sentinel
 * ("failed to connect to sentinel H:P because <reply>") and once per round of
 * them all ("All sentinels are unreachable. Retrying from scratch after Nms.
 * Last error: <reply>"). The reply is what names the failure; the round's
 * delay grows on every retry, so it must not make each round a new failure.
 */
const SENTINEL_WRAPPED =
  /^(?:failed to connect to sentinel \S+ because |All sentinels are unreachable\. Retrying from scratch after \d+ms\. Last error: )(.*)$/s;
const SENTINEL_ROUND_DELAY = /^(All sentinels are unreachable\. Retrying from scratch after )\d+ms/;

/**
 * Turns a binding's connection events into log lines an operator can act on.
 * ioredis reports every failed reconnect; logging each would be thousands of
 * lines per outage, so each distinct failure is logged when first seen and
 * then at most every 30 s with the number of repeats. TLS and authentication
 * failures are errors named as such: retrying will not fix them.
 */
export class ConnectionLog implements ConnectionEvents {
  private readonly seen = new Map<string, { at: number; repeats: number }>();
  private failing = false;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    private readonly repeatIntervalMs = REPEAT_INTERVAL_MS,
  ) {}

  ready(): void {
    this.log.info(this.failing ? "redis connection restored" : "redis connection ready");
    this.failing = false;
    this.seen.clear();
  }

  lost(): void {
    this.log.warn("redis connection lost; reconnecting");
  }

  error(error: Error): void {
    this.failing = true;
    const tls = tlsFailure(error);
    if (tls !== undefined) {
      const message =
        tls.kind === "verification"
          ? "redis TLS verification failed"
          : "redis TLS handshake failed";
      this.once(`tls:${tls.code}`, (repeated) =>
        this.log.error({ code: tls.code, reason: tls.reason, ...repeated }, message),
      );
      return;
    }
    // A Sentinel refusing the client (sentinelUsername/sentinelPassword) is an
    // authentication failure too, whichever Sentinel or round reported it.
    const sentinelReply = SENTINEL_WRAPPED.exec(error.message)?.[1];
    const reason = sentinelReply ?? error.message;
    if (AUTH_FAILURE.test(reason)) {
      const sentinel = sentinelReply !== undefined;
      this.once(`auth:${sentinel ? "sentinel:" : ""}${reason}`, (repeated) =>
        this.log.error(
          { reason, ...(sentinel ? { sentinel: true } : {}), ...repeated },
          "redis authentication failed",
        ),
      );
      return;
    }
    this.once(error.message.replace(SENTINEL_ROUND_DELAY, "$1Nms"), (repeated) =>
      this.log.warn({ cause: error.message, ...repeated }, "redis connection error"),
    );
  }

  private once(key: string, write: (repeated: { repeated?: number }) => void): void {
    const now = this.now();
    const entry = this.seen.get(key);
    if (entry !== undefined && now - entry.at < this.repeatIntervalMs) {
      entry.repeats++;
      return;
    }
    if (this.seen.size >= MAX_REMEMBERED) this.seen.clear();
    this.seen.set(key, { at: now, repeats: 0 });
    write(entry !== undefined && entry.repeats > 0 ? { repeated: entry.repeats } : {});
  }
}
