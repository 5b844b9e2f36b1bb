import { MASK, type RedisBindingSettings } from "./settings.js";

/**
 * One line saying where a binding's Redis is, for logs; never credentials.
 * Hosts, user and master name taken from a secret store or the environment
 * are masked, as `validate` masks them.
 */
export function describeTarget(settings: RedisBindingSettings): string {
  const shown = (field: string, value: string) =>
    settings.concealedFields.has(field) ? MASK : value;
  const hosts = shown(
    "redisHost",
    settings.addresses.map(({ host, port }) => `${host}:${port}`).join(","),
  );
  const topology = settings.failover
    ? `sentinel ${shown("sentinelMasterName", settings.sentinelMasterName ?? "")}@${hosts}`
    : `${settings.redisType} ${hosts}`;
  const parts = [topology];
  if (settings.redisType === "node" && !settings.failover) parts.push(`db ${settings.redisDB}`);
  parts.push(settings.enableTLS ? "tls" : "plaintext");
  if (settings.redisUsername !== undefined) {
    parts.push(`user ${shown("redisUsername", settings.redisUsername)}`);
  }
  if (settings.useEntraID) parts.push("entra-id");
  return parts.join(", ");
}
