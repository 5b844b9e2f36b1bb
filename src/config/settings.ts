/**
 * Typed, frozen settings. Everything the hot path reads is parsed here once at
 * start-up: durations are milliseconds, booleans are booleans, no strings left
 * to interpret per request.
 */

export type RedisType = "node" | "cluster";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** A `bindings.redis` component, resolved (secrets filled in) and validated. */
export interface RedisBindingSettings {
  /** Component name: the binding name, and the last token of its subject. */
  readonly name: string;
  /** The file the component came from, for messages. */
  readonly file: string;

  readonly redisHost: string;
  /** `redisHost` split on commas, `redisPort` applied where a seed has no port. */
  readonly addresses: readonly HostPort[];
  readonly redisType: RedisType;
  readonly redisDB: number;
  readonly redisUsername: string | undefined;
  readonly redisPassword: string | undefined;

  readonly enableTLS: boolean;
  readonly insecureSkipTLSVerify: boolean;
  readonly clientCert: string | undefined;
  readonly clientKey: string | undefined;
  /** PEM CA bundle to verify the server with (not a Dapr field); undefined = system store. */
  readonly caCert: string | undefined;

  readonly useEntraID: boolean;
  readonly azureClientID: string | undefined;

  readonly failover: boolean;
  readonly sentinelMasterName: string | undefined;
  readonly sentinelUsername: string | undefined;
  readonly sentinelPassword: string | undefined;

  /** 0 = redelivery disabled. */
  readonly redeliverIntervalMs: number;
  /** 0 = redelivery disabled. */
  readonly processingTimeoutMs: number;
  /** Deliveries of a durable request before it is dead-lettered (at least 1). */
  readonly maxDeliveries: number;

  /** 0 = no retries (the seed's default; `-1` also means none). */
  readonly redisMaxRetries: number;
  /** 0 = no backoff between retries (`-1` in the component). */
  readonly redisMinRetryIntervalMs: number;
  /** 0 = no backoff between retries (`-1` in the component). */
  readonly redisMaxRetryIntervalMs: number;

  readonly dialTimeoutMs: number;
  /** undefined = no timeout (`-1` in the component). */
  readonly readTimeoutMs: number | undefined;
  /** undefined = no timeout. Defaults to readTimeout. */
  readonly writeTimeoutMs: number | undefined;

  /** Connections per binding (node and Sentinel); 1 unless poolSize is set. */
  readonly poolSize: number;
  readonly poolTimeoutMs: number | undefined;
  readonly maxConnAgeMs: number | undefined;
  readonly minIdleConns: number;
  /** undefined = reaper disabled. */
  readonly idleCheckFrequencyMs: number | undefined;
  /** undefined = idle check disabled. */
  readonly idleTimeoutMs: number | undefined;

  /** Metadata names present in the component; used to warn about settings with no effect. */
  readonly explicitFields: ReadonlySet<string>;
  /**
   * Fields whose values came from a secret store (secretKeyRef) or the
   * environment (envRef). Whoever wrote them there chose not to put them in
   * the file, so they are printed masked, like the secret fields.
   */
  readonly concealedFields: ReadonlySet<string>;
}

/** What a masked value prints as, wherever settings are shown. */
export const MASK = "****";

/** Names of fields whose values must never be printed. */
export const SECRET_FIELDS: ReadonlySet<string> = new Set([
  "redisPassword",
  "sentinelPassword",
  "clientKey",
]);

/** Process-wide settings from the environment (PROTOCOL section 7). */
export interface RuntimeSettings {
  readonly natsServers: readonly string[];
  readonly natsCredsFile: string | undefined;
  readonly natsNkeySeedFile: string | undefined;
  readonly natsToken: string | undefined;
  readonly natsUser: string | undefined;
  readonly natsPassword: string | undefined;
  readonly natsTlsCaFile: string | undefined;
  readonly natsTlsCertFile: string | undefined;
  readonly natsTlsKeyFile: string | undefined;
  /**
   * Client PING period (NATS_PING_INTERVAL); with two PINGs unanswered the
   * connection counts as stale and is replaced.
   */
  readonly natsPingIntervalMs: number;

  readonly componentsPath: string;
  readonly subjectPrefix: string;
  readonly queueGroup: string;
  /** 0 disables the HTTP server. */
  readonly httpPort: number;
  readonly maxInFlight: number;
  readonly maxRequestBytes: number;
  readonly requestTimeoutMs: number;
  readonly shutdownGraceMs: number;
  readonly logLevel: string;
  /** Take requests from JetStream on `<prefix>.durable.<name>` too (BINDINGS_DURABLE). */
  readonly durable: boolean;
}
