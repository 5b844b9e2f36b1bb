import type { RedisBindingSettings } from "./settings.js";

/** One line saying where a binding's Redis is, for logs; never credentials. */
export function describeTarget(settings: RedisBindingSettings): string {
  const hosts = settings.addresses.map(({ host, port }) => `${host}:${port}`).join(",");
  const topology = settings.failover
    ? `sentinel ${settings.sentinelMasterName ?? ""}@${hosts}`
    : `${settings.redisType} ${hosts}`;
  const parts = [topology];
  if (settings.redisType === "node" && !settings.failover) parts.push(`db ${settings.redisDB}`);
  parts.push(settings.enableTLS ? "tls" : "plaintext");
  if (settings.redisUsername !== undefined) parts.push(`user ${settings.redisUsername}`);
  if (settings.useEntraID) parts.push("entra-id");
  return parts.join(", ");
}
