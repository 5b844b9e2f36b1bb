import type { ClusterOptions, RedisOptions } from "ioredis";
import type { HostPort, RedisBindingSettings } from "../config/settings.js";
import { DataNodeConnector, QuietSentinelConnector } from "./connectors.js";
import { tlsOptions } from "./tls.js";

/** How long to wait between reconnect attempts: quick at first, never more than a second. */
const RECONNECT_CAP_MS = 1000;

/** After a command times out, how much longer a silent socket may live before it is dropped. */
const SOCKET_TIMEOUT_GRACE_MS = 1000;

export const reconnectDelayMs = (times: number): number => Math.min(50 * times, RECONNECT_CAP_MS);

/** Per-connection options every topology shares (cluster passes them to each node). */
type SharedOptions = Omit<
  RedisOptions,
  "port" | "host" | "path" | "sentinels" | "retryStrategy" | "enableOfflineQueue" | "readOnly"
>;

/**
 * ioredis options for one connection to a data node, from the component's
 * settings. The choices that matter for correctness are explained inline.
 */
function sharedOptions(settings: RedisBindingSettings): SharedOptions {
  const readTimeout = settings.readTimeoutMs;
  return {
    // Sockets that cannot crash the process with a late error (connectors.ts).
    Connector: DataNodeConnector,
    username: settings.redisUsername,
    password: settings.redisPassword,
    tls: tlsOptions(settings),
    // dialTimeout: covers TCP connect and the TLS handshake.
    connectTimeout: settings.dialTimeoutMs,
    // readTimeout: a command without an answer in time fails (504) instead of hanging.
    commandTimeout: readTimeout,
    // ...and, like go-redis, a connection that stays silent past it is dropped
    // and redialled: a half-open socket (a partition) would otherwise look
    // ready for minutes while every command times out. The grace lets the
    // command time out first, so callers see 504, not a dropped connection.
    socketTimeout: readTimeout === undefined ? undefined : readTimeout + SOCKET_TIMEOUT_GRACE_MS,
    // We connect explicitly, so start-up can wait for the first PING (and
    // for an Entra ID token before the first AUTH).
    lazyConnect: true,
    // Never resend a command that was in flight when a connection dropped:
    // an INCR would count twice. Retries are ours (redis/retry.ts).
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    // A node demoted to replica (failover) answers writes with READONLY:
    // reconnect, so Sentinel or DNS leads to the new master. The command is
    // not resent; our retry policy decides (READONLY was never executed).
    reconnectOnError: (error) => error.message.startsWith("READONLY"),
    connectionName: `redis-binding-worker:${settings.name}`,
  };
}

/** Options that only a standalone client (node or Sentinel mode) takes. */
function standaloneOptions(settings: RedisBindingSettings): RedisOptions {
  return {
    ...sharedOptions(settings),
    db: settings.redisDB,
    // INCR replies beyond 2^53 must reach the caller exactly. Not in a
    // cluster: see defineScripts, which answers INCR as text there.
    stringNumbers: true,
    // Fail at once while disconnected; queued commands would outlive deadlines.
    enableOfflineQueue: false,
    // Keep reconnecting forever; the worker stays up and answers 503 meanwhile.
    retryStrategy: reconnectDelayMs,
    // Many concurrent requests share one round trip: the main throughput lever.
    enableAutoPipelining: true,
  };
}

/** One node: the first address of `redisHost`. */
export function nodeOptions(settings: RedisBindingSettings, address: HostPort): RedisOptions {
  return { ...standaloneOptions(settings), host: address.host, port: address.port };
}

/**
 * Sentinel: `redisHost` lists the Sentinels; they name the master, and the
 * client asks them again after every disconnect. With TLS, Sentinels and the
 * master are both reached over TLS with the same options.
 */
export function sentinelOptions(settings: RedisBindingSettings): RedisOptions {
  const tls = tlsOptions(settings);
  return {
    ...standaloneOptions(settings),
    Connector: QuietSentinelConnector,
    sentinels: settings.addresses.map(({ host, port }) => ({ host, port })),
    name: settings.sentinelMasterName,
    sentinelUsername: settings.sentinelUsername,
    sentinelPassword: settings.sentinelPassword,
    sentinelTLS: tls,
    enableTLSForSentinelMode: tls !== undefined,
    sentinelRetryStrategy: reconnectDelayMs,
    sentinelCommandTimeout: settings.readTimeoutMs,
    // Sentinel publishes +switch-master; listening to it moves to the new
    // master at once instead of at the next failed command.
    failoverDetector: true,
  };
}

/**
 * Cluster: `redisHost` lists seed nodes; ioredis learns the slot map from
 * them and follows MOVED/ASK itself. `redisDB` does not exist in a cluster.
 */
export function clusterOptions(settings: RedisBindingSettings): ClusterOptions {
  return {
    redisOptions: sharedOptions(settings),
    lazyConnect: true,
    enableOfflineQueue: false,
    // No auto-pipelining in a cluster: while slots migrate, a batch whose
    // commands meet different MOVED/ASK replies fails as a whole in ioredis
    // 6 (the replies reach callers), and a slot map being refreshed can
    // throw in its batching code. Commands still share each node's socket
    // without waiting for one another; only the write coalescing is lost.
    enableAutoPipelining: false,
    clusterRetryStrategy: reconnectDelayMs,
    // ioredis resends a command whose node connection closed after this delay,
    // even if Redis already ran it: an INCR could count twice. 0 turns that
    // off; redis/retry.ts retries what is safe to retry.
    retryDelayOnFailover: 0,
    // With TLS, keep host names as given so certificates are checked against
    // them (ioredis would otherwise dial the resolved IP address).
    ...(settings.enableTLS ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
  };
}
