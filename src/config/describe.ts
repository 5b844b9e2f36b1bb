/**
 * A printable view of a binding's resolved settings for `validate` and the
 * start-up log, keyed by the component's own metadata names so an operator
 * can compare it with the file. Secrets are masked here and nowhere else
 * needs to remember to: the secret fields always, and any other field whose
 * value came from a secret store or the environment (a redisHost kept in a
 * secret store is the user's to reveal, not ours).
 */
import { formatDuration } from "./duration.js";
import { MASK, type RedisBindingSettings, SECRET_FIELDS } from "./settings.js";

function mask(field: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return SECRET_FIELDS.has(field) ? MASK : value;
}

/** The certificate is public but long; its first line and size identify it. */
function shortenPem(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const first = value.trim().split("\n", 1)[0]?.trim() ?? "";
  return `${first} ... (${value.length} chars)`;
}

/** A duration where undefined means "none"/"disabled" in the settings. */
function optionalDuration(ms: number | undefined, whenUndefined: string): string {
  return ms === undefined ? whenUndefined : formatDuration(ms);
}

function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

export function describeBinding(settings: RedisBindingSettings): Record<string, unknown> {
  const view = plainView(settings);
  for (const field of settings.concealedFields) {
    if (view[field] !== undefined) view[field] = MASK;
  }
  // The addresses are redisHost spelled out; they hide with it.
  if (settings.concealedFields.has("redisHost")) view.addresses = MASK;
  return view;
}

function plainView(settings: RedisBindingSettings): Record<string, unknown> {
  return {
    name: settings.name,
    file: settings.file,
    redisHost: settings.redisHost,
    addresses: settings.addresses.map(({ host, port }) => `${formatHost(host)}:${port}`),
    redisType: settings.redisType,
    redisDB: settings.redisDB,
    redisUsername: settings.redisUsername,
    redisPassword: mask("redisPassword", settings.redisPassword),
    enableTLS: settings.enableTLS,
    insecureSkipTLSVerify: settings.insecureSkipTLSVerify,
    clientCert: mask("clientCert", shortenPem(settings.clientCert)),
    clientKey: mask("clientKey", settings.clientKey),
    caCert: shortenPem(settings.caCert),
    useEntraID: settings.useEntraID,
    azureClientID: settings.azureClientID,
    failover: settings.failover,
    sentinelMasterName: settings.sentinelMasterName,
    sentinelUsername: settings.sentinelUsername,
    sentinelPassword: mask("sentinelPassword", settings.sentinelPassword),
    redeliverInterval:
      settings.redeliverIntervalMs === 0
        ? "disabled"
        : formatDuration(settings.redeliverIntervalMs),
    processingTimeout:
      settings.processingTimeoutMs === 0
        ? "disabled"
        : formatDuration(settings.processingTimeoutMs),
    maxDeliveries: settings.maxDeliveries,
    redisMaxRetries: settings.redisMaxRetries,
    redisMinRetryInterval:
      settings.redisMinRetryIntervalMs === 0
        ? "no backoff"
        : formatDuration(settings.redisMinRetryIntervalMs),
    redisMaxRetryInterval:
      settings.redisMaxRetryIntervalMs === 0
        ? "no backoff"
        : formatDuration(settings.redisMaxRetryIntervalMs),
    dialTimeout: formatDuration(settings.dialTimeoutMs),
    readTimeout: optionalDuration(settings.readTimeoutMs, "none"),
    writeTimeout: optionalDuration(settings.writeTimeoutMs, "none"),
    poolSize: settings.poolSize,
    poolTimeout: optionalDuration(settings.poolTimeoutMs, "none"),
    maxConnAge: optionalDuration(settings.maxConnAgeMs, "none"),
    minIdleConns: settings.minIdleConns,
    idleCheckFrequency: optionalDuration(settings.idleCheckFrequencyMs, "disabled"),
    idleTimeout: optionalDuration(settings.idleTimeoutMs, "disabled"),
    explicitFields: [...settings.explicitFields].sort(),
    concealedFields: [...settings.concealedFields].sort(),
  };
}
