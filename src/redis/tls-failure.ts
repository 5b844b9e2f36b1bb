/**
 * Recognises TLS failures among connection errors, so the log can say "TLS
 * verification failed" instead of a generic connection error: a wrong CA or
 * a missing client certificate is a configuration problem that retrying
 * will not fix, and the operator must see it as such.
 */

/** OpenSSL's X.509 verification results, as Node reports them in `error.code`. */
const VERIFY_CODES = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "ERROR_IN_CERT_NOT_BEFORE_FIELD",
  "ERROR_IN_CERT_NOT_AFTER_FIELD",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_CHAIN_TOO_LONG",
  "CERT_REVOKED",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

export interface TlsFailure {
  /** "verification": we refused the server; "handshake": TLS itself failed (e.g. a client certificate was required). */
  readonly kind: "verification" | "handshake";
  readonly code: string;
  readonly reason: string;
}

export function tlsFailure(error: unknown): TlsFailure | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as NodeJS.ErrnoException).code;
  if (typeof code !== "string") return undefined;
  if (VERIFY_CODES.has(code)) return { kind: "verification", code, reason: error.message };
  if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_")) {
    return { kind: "handshake", code, reason: error.message };
  }
  return undefined;
}
