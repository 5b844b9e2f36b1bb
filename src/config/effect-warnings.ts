/**
 * Settings that are valid but do nothing in the combination given, or have no
 * equivalent in ioredis. Each is reported once at start-up (and by
 * `validate`) so an operator who relies on one is not misled; none stops the
 * worker, because Dapr accepts them too.
 */
import type { RedisBindingSettings } from "./settings.js";

type BindingOptions = Omit<
  RedisBindingSettings,
  "name" | "file" | "explicitFields" | "concealedFields"
>;

export interface EffectWarning {
  /** The metadata field the warning is about. */
  readonly field: string;
  readonly message: string;
}

/**
 * go-redis pool settings ioredis cannot honour, with the reason. ioredis has
 * no connection pool to wait on, reap or age: each connection carries every
 * concurrent command, pipelined, and stays open (with TCP keep-alive).
 */
const NO_IOREDIS_EQUIVALENT: Readonly<Record<string, string>> = {
  writeTimeout:
    "has no ioredis equivalent and is ignored: writes go to the socket buffer, and one that never reaches Redis shows up as a reply missing after readTimeout",
  poolTimeout:
    "has no ioredis equivalent and is ignored: commands never wait for a free connection, they are pipelined on an open one",
  minIdleConns:
    "has no ioredis equivalent and is ignored: every connection of the pool is opened at start-up and kept open",
  maxConnAge:
    "has no ioredis equivalent and is ignored: connections are kept until they fail, then reconnected",
  idleCheckFrequency:
    "has no ioredis equivalent and is ignored: idle connections are never reaped (TCP keep-alive keeps them healthy)",
  idleTimeout:
    "has no ioredis equivalent and is ignored: idle connections are never closed (TCP keep-alive keeps them healthy)",
};

export function effectWarnings(
  options: BindingOptions,
  explicitFields: ReadonlySet<string>,
): EffectWarning[] {
  const warnings: EffectWarning[] = [];
  const warn = (field: string, message: string) => warnings.push({ field, message });

  if (!options.enableTLS) {
    for (const field of ["insecureSkipTLSVerify", "clientCert", "clientKey", "caCert"] as const) {
      if (explicitFields.has(field) && options[field] !== undefined && options[field] !== false) {
        warn(field, "has no effect unless enableTLS is true");
      }
    }
  } else if (options.insecureSkipTLSVerify && options.caCert !== undefined) {
    warn("caCert", "has no effect while insecureSkipTLSVerify is true");
  }
  if (!options.failover) {
    for (const field of ["sentinelMasterName", "sentinelUsername", "sentinelPassword"] as const) {
      if (options[field] !== undefined) warn(field, "has no effect unless failover is true");
    }
  } else if (options.redisType === "cluster") {
    warn("redisType", "cluster is ignored when failover is true: Sentinel decides the master");
  }
  if (options.redisType === "cluster" && !options.failover) {
    if (options.redisDB !== 0) warn("redisDB", "is ignored when redisType is cluster");
    if (explicitFields.has("poolSize")) {
      warn("poolSize", "is ignored when redisType is cluster: one connection per cluster node");
    }
  }
  if (options.redisType === "node" && !options.failover && options.addresses.length > 1) {
    warn(
      "redisHost",
      `lists ${options.addresses.length} addresses, but a single node is reached through the first only`,
    );
  }
  if (!options.useEntraID && options.azureClientID !== undefined) {
    warn("azureClientID", "has no effect unless useEntraID is true");
  }
  for (const [field, message] of Object.entries(NO_IOREDIS_EQUIVALENT)) {
    if (explicitFields.has(field)) warn(field, message);
  }
  return warnings;
}
