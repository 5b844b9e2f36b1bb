import { setTimeout as sleep } from "node:timers/promises";
import type { AccessToken, TokenCredential } from "@azure/identity";
import type { Logger } from "pino";
import { tokenObjectId } from "./jwt.js";

/** The scope Azure Cache for Redis (and Azure Managed Redis) tokens are issued for. */
export const REDIS_SCOPE = "https://redis.azure.com/.default";

/** Share of a token's remaining life after which it is renewed. */
const RENEW_AT = 0.75;
/** Never renew more often than this, even for a token about to expire. */
const MIN_RENEW_DELAY_MS = 250;
/** Retry delays after a failed attempt: doubling from the first to the cap. */
const RETRY_FIRST_MS = 1_000;
const RETRY_CAP_MS = 10_000;
/** A failure that keeps happening is logged again at most this often. */
const LOG_REPEAT_MS = 30_000;
/** A credential that does not answer (an unreachable metadata endpoint) counts as failed. */
const GET_TOKEN_TIMEOUT_MS = 30_000;

/** When to ask for the next token: before expiry, leaving a quarter of its life to retry in. */
export function renewDelayMs(token: AccessToken, now: number): number {
  const untilExpiry = token.expiresOnTimestamp - now;
  let delay = untilExpiry * RENEW_AT;
  // MSAL says when a token is worth renewing (e.g. half-way for managed identities).
  if (token.refreshAfterTimestamp !== undefined) {
    delay = Math.min(delay, token.refreshAfterTimestamp - now);
  }
  return Math.max(MIN_RENEW_DELAY_MS, Math.floor(delay));
}

export const retryDelayMs = (failures: number): number =>
  Math.min(RETRY_FIRST_MS * 2 ** Math.max(0, failures - 1), RETRY_CAP_MS);

export interface EntraIdOptions {
  readonly credential: TokenCredential;
  readonly log: Logger;
  /** Puts username (the token's oid) and password (the token) into effect everywhere. */
  readonly apply: (username: string, password: string) => Promise<void>;
  readonly now?: () => number;
}

/**
 * Keeps a binding authenticated with Entra ID tokens: the first token before
 * any connection is made, then a new one well before each expires, applied
 * to every connection. A renewal that keeps failing is retried and logged;
 * once the token in use has expired `healthy` turns false, which the
 * worker's readiness reports. Nothing here ends the process.
 */
export class EntraIdAuth {
  private token: AccessToken | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly abort = new AbortController();
  private failures = 0;
  private lastLoggedAt = Number.NEGATIVE_INFINITY;
  private reportedExpiry = false;
  private readonly now: () => number;

  constructor(private readonly options: EntraIdOptions) {
    this.now = options.now ?? Date.now;
  }

  /** A token is in effect and has not expired. */
  get healthy(): boolean {
    return this.token !== undefined && this.now() < this.token.expiresOnTimestamp;
  }

  /**
   * Resolves true once the first token is in effect, retrying for as long as
   * it takes; false if closed first. Until then the binding does not connect.
   */
  async start(): Promise<boolean> {
    while (!this.closed) {
      try {
        await this.renew();
        return !this.closed;
      } catch (error) {
        this.failures++;
        this.logFailure(error, "Entra ID token could not be obtained; the binding waits for one");
        await sleep(retryDelayMs(this.failures), undefined, { signal: this.abort.signal }).catch(
          () => {},
        );
      }
    }
    return false;
  }

  close(): void {
    this.closed = true;
    this.abort.abort();
    clearTimeout(this.timer);
  }

  private async renew(): Promise<void> {
    const abortSignal = AbortSignal.any([
      this.abort.signal,
      AbortSignal.timeout(GET_TOKEN_TIMEOUT_MS),
    ]);
    const token = await this.options.credential.getToken(REDIS_SCOPE, { abortSignal });
    if (token === null) throw new Error("the credential returned no token");
    const username = tokenObjectId(token.token);
    if (this.closed) return;
    // A credential may hand back its cached token: nothing to re-authenticate.
    if (token.token !== this.token?.token) await this.options.apply(username, token.token);
    const recovered = this.failures > 0;
    this.token = token;
    this.failures = 0;
    this.reportedExpiry = false;
    if (recovered) this.options.log.info("Entra ID token renewed after failures");
    this.schedule(renewDelayMs(token, this.now()));
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.renewInBackground(), delayMs);
    // A pending renewal must not keep a stopping process alive.
    this.timer.unref();
  }

  private async renewInBackground(): Promise<void> {
    try {
      await this.renew();
    } catch (error) {
      this.failures++;
      if (this.healthy) {
        this.logFailure(error, "Entra ID token renewal failed; retrying");
      } else {
        this.logFailure(
          error,
          "Entra ID token expired and could not be renewed; the binding is not ready",
          !this.reportedExpiry,
        );
        this.reportedExpiry = true;
      }
      this.schedule(retryDelayMs(this.failures));
    }
  }

  private logFailure(error: unknown, message: string, force = false): void {
    const now = this.now();
    if (!force && now - this.lastLoggedAt < LOG_REPEAT_MS) return;
    this.lastLoggedAt = now;
    const expiresInMs = this.token === undefined ? undefined : this.token.expiresOnTimestamp - now;
    this.options.log.error(
      {
        cause: error instanceof Error ? error.message : String(error),
        failures: this.failures,
        ...(expiresInMs === undefined ? {} : { tokenExpiresInMs: expiresInMs }),
      },
      message,
    );
  }
}
