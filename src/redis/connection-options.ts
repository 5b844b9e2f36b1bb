import type { ConnectionOptions as TlsConnectionOptions } from "node:tls";
import type { RedisOptions } from "ioredis";
import type { RedisBindingSettings } from "../config/settings.js";

/** How long to wait between reconnect attempts: quick at first, never more than a second. */
const RECONNECT_CAP_MS = 1000;

/**
 * ioredis options shared by every topology, from the component's settings.
 * The choices that matter for correctness are explained inline.
 */
export function baseRedisOptions(settings: RedisBindingSettings): RedisOptions {
  return {
    username: settings.redisUsername,
    password: settings.redisPassword,
    db: settings.redisDB,
    tls: tlsOptions(settings),
    connectTimeout: settings.dialTimeoutMs,
    // readTimeout: a command without an answer in time fails instead of hanging.
    commandTimeout: settings.readTimeoutMs,
    // We connect explicitly, so start-up can wait for the first PING.
    lazyConnect: true,
    // Never resend a command that was in flight when a connection dropped:
    // an INCR would count twice. Retries are ours (redis/retry.ts).
    autoResendUnfulfilledCommands: false,
    // Fail at once while disconnected; queued commands would outlive deadlines.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Keep reconnecting forever; the worker stays up and answers 503 meanwhile.
    retryStrategy: (times) => Math.min(50 * times, RECONNECT_CAP_MS),
    // INCR replies beyond 2^53 must reach the caller exactly.
    stringNumbers: true,
    // Many concurrent requests share one round trip: the main throughput lever.
    enableAutoPipelining: true,
    connectionName: `redis-binding-worker:${settings.name}`,
  };
}

function tlsOptions(settings: RedisBindingSettings): TlsConnectionOptions | undefined {
  if (!settings.enableTLS) return undefined;
  return {
    rejectUnauthorized: !settings.insecureSkipTLSVerify,
    ...(settings.clientCert !== undefined ? { cert: settings.clientCert } : {}),
    ...(settings.clientKey !== undefined ? { key: settings.clientKey } : {}),
  };
}
