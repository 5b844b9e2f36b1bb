import type { ConnectionOptions } from "node:tls";
import type { RedisBindingSettings } from "../config/settings.js";

/**
 * Node TLS options for a binding, or undefined without `enableTLS`. The same
 * options serve data nodes and Sentinels. Verification is on unless
 * `insecureSkipTLSVerify`; it trusts the system store plus NODE_EXTRA_CA_CERTS,
 * or `caCert` when given (a private CA, as for self-hosted Redis).
 */
export function tlsOptions(settings: RedisBindingSettings): ConnectionOptions | undefined {
  if (!settings.enableTLS) return undefined;
  const options: ConnectionOptions = { rejectUnauthorized: !settings.insecureSkipTLSVerify };
  if (settings.caCert !== undefined && !settings.insecureSkipTLSVerify) {
    options.ca = settings.caCert;
  }
  // Servers with `tls-auth-clients yes` refuse a client without a certificate.
  if (settings.clientCert !== undefined) options.cert = settings.clientCert;
  if (settings.clientKey !== undefined) options.key = settings.clientKey;
  return options;
}
