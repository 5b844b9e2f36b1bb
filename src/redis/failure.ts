/**
 * Sorts what ioredis throws into the few kinds the rest of the worker acts on.
 * Matching on messages is unavoidable: Redis replies are text, and ioredis
 * rejects with plain Errors for connection trouble.
 */
export type FailureKind =
  /** The value cannot take the operation (WRONGTYPE, not an integer, overflow). */
  | "conflict"
  /** Redis could not be reached or said it cannot serve now; may pass. */
  | "unavailable"
  /** No answer within readTimeout. */
  | "timeout"
  /** Anything else: NOPERM, WRONGPASS, script errors... */
  | "other";

export interface Failure {
  readonly kind: FailureKind;
  /** Worth another attempt after a pause. */
  readonly transient: boolean;
  /** Certainly never executed by Redis, so even INCR may be sent again. */
  readonly notExecuted: boolean;
}

const CONFLICT =
  /^(WRONGTYPE|ERR value is not an integer|ERR increment or decrement would overflow|ERR value is not a valid float)/;
/** Replies by which the server refuses a command without running it. */
const REFUSED_REPLY =
  /^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY |ERR max number of clients reached)/;
/** Errors raised before a command could be written to any socket. */
const NOT_SENT = [
  "Stream isn't writeable",
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "connect ETIMEDOUT",
  "None of startup nodes is available",
  "Failed to refresh slots cache",
  "All sentinels are unreachable",
  "No master node",
  // Cluster without its slot map yet (enableOfflineQueue: false).
  "Cluster isn't ready and enableOfflineQueue options is false",
];
/** Errors after which the command may or may not have run. */
const CONNECTION_LOST = [
  "Connection is closed",
  "ECONNRESET",
  "EPIPE",
  "Socket timeout",
  "socket hang up",
  "ECONNABORTED",
  // Part of an auto-pipeline that was on the wire when the connection dropped.
  "Command aborted due to connection close",
];

export function classifyFailure(error: unknown): Failure {
  const message = error instanceof Error ? error.message : String(error);
  if (CONFLICT.test(message)) return { kind: "conflict", transient: false, notExecuted: true };
  if (REFUSED_REPLY.test(message))
    return { kind: "unavailable", transient: true, notExecuted: true };
  if (message === "Command timed out")
    return { kind: "timeout", transient: false, notExecuted: false };
  if (NOT_SENT.some((fragment) => message.includes(fragment))) {
    return { kind: "unavailable", transient: true, notExecuted: true };
  }
  if (CONNECTION_LOST.some((fragment) => message.includes(fragment))) {
    return { kind: "unavailable", transient: true, notExecuted: false };
  }
  if (error instanceof Error && error.name === "MaxRetriesPerRequestError") {
    return { kind: "unavailable", transient: true, notExecuted: false };
  }
  return { kind: "other", transient: false, notExecuted: false };
}
