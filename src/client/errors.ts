/**
 * Errors a caller of a binding can meet. The first eight mirror the worker's
 * catalogue (PROTOCOL section 5) class for class, so a caller can branch on
 * `instanceof`, on `code` or on `retryable`. They are copies rather than
 * imports of src/errors.ts on purpose: the client is a public API with its own
 * constructor shapes, and a unit test keeps both catalogues in step.
 *
 * The last three never come from a worker: they describe what happened on the
 * way to one (nobody serves the binding, no answer in time, an answer that is
 * not a binding reply).
 */

/** Every `code` a client error can carry. */
export type BindingErrorCode =
  | "ERR_MALFORMED_REQUEST"
  | "ERR_INVALID_REQUEST"
  | "ERR_UNSUPPORTED_OPERATION"
  | "ERR_VALUE_CONFLICT"
  | "ERR_PAYLOAD_TOO_LARGE"
  | "ERR_BINDING_UNAVAILABLE"
  | "ERR_BINDING_TIMEOUT"
  | "ERR_INVOKE_OUTPUT_BINDING"
  | "ERR_NO_RESPONDERS"
  | "ERR_REPLY_TIMEOUT"
  | "ERR_BAD_REPLY";

export interface BindingErrorDetails {
  /** The binding the request was for. */
  readonly binding: string;
  readonly cause?: unknown;
}

export abstract class BindingError extends Error {
  abstract readonly code: BindingErrorCode;
  /** The HTTP-like status of the protocol (400, 409, 413, 500, 503, 504). */
  abstract readonly status: number;
  /** Whether the same request may succeed if sent again later. */
  abstract readonly retryable: boolean;
  readonly binding: string;

  constructor(message: string, details: BindingErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.binding = details.binding;
  }
}

export class MalformedRequestError extends BindingError {
  readonly code = "ERR_MALFORMED_REQUEST";
  readonly status = 400;
  readonly retryable = false;
}

export class InvalidRequestError extends BindingError {
  readonly code = "ERR_INVALID_REQUEST";
  readonly status = 400;
  readonly retryable = false;
}

export class UnsupportedOperationError extends BindingError {
  readonly code = "ERR_UNSUPPORTED_OPERATION";
  readonly status = 400;
  readonly retryable = false;
}

export class ValueConflictError extends BindingError {
  readonly code = "ERR_VALUE_CONFLICT";
  readonly status = 409;
  readonly retryable = false;
}

export class PayloadTooLargeError extends BindingError {
  readonly code = "ERR_PAYLOAD_TOO_LARGE";
  readonly status = 413;
  readonly retryable = false;
}

export class BindingUnavailableError extends BindingError {
  readonly code = "ERR_BINDING_UNAVAILABLE";
  readonly status = 503;
  readonly retryable = true;
}

export class BindingTimeoutError extends BindingError {
  readonly code = "ERR_BINDING_TIMEOUT";
  readonly status = 504;
  readonly retryable = true;
}

export class InvokeOutputBindingError extends BindingError {
  readonly code = "ERR_INVOKE_OUTPUT_BINDING";
  readonly status = 500;
  readonly retryable = false;
}

/** No worker subscribes to the binding's subject (none running, or its Redis not up yet). */
export class NoRespondersError extends BindingError {
  readonly code = "ERR_NO_RESPONDERS";
  readonly status = 503;
  readonly retryable = true;
}

/**
 * No reply within the timeout. Unlike a worker's 504, the request may or may
 * not have been carried out: a worker may have died after writing to Redis.
 */
export class ReplyTimeoutError extends BindingError {
  readonly code = "ERR_REPLY_TIMEOUT";
  readonly status = 504;
  readonly retryable = true;
}

/** The reply does not follow the protocol (e.g. a JSON reply that is not JSON). */
export class BadReplyError extends BindingError {
  readonly code = "ERR_BAD_REPLY";
  readonly status = 500;
  readonly retryable = false;
}

type ErrorClass = new (message: string, details: BindingErrorDetails) => BindingError;

/** The worker's `errorCode` values and the class each one becomes. */
export const WORKER_ERRORS: Readonly<Record<string, ErrorClass>> = Object.freeze({
  ERR_MALFORMED_REQUEST: MalformedRequestError,
  ERR_INVALID_REQUEST: InvalidRequestError,
  ERR_UNSUPPORTED_OPERATION: UnsupportedOperationError,
  ERR_VALUE_CONFLICT: ValueConflictError,
  ERR_PAYLOAD_TOO_LARGE: PayloadTooLargeError,
  ERR_BINDING_UNAVAILABLE: BindingUnavailableError,
  ERR_BINDING_TIMEOUT: BindingTimeoutError,
  ERR_INVOKE_OUTPUT_BINDING: InvokeOutputBindingError,
});

/** When the body names no known code, the status alone still picks a sensible class. */
const BY_STATUS: Readonly<Record<number, ErrorClass>> = Object.freeze({
  400: InvalidRequestError,
  409: ValueConflictError,
  413: PayloadTooLargeError,
  503: BindingUnavailableError,
  504: BindingTimeoutError,
});

/**
 * The error a worker's error reply stands for: `errorCode` from the body
 * decides, else the status from `Nats-Service-Error-Code`.
 */
export function errorFromReply(
  binding: string,
  status: number,
  body: { errorCode?: unknown; message?: unknown } | undefined,
  headerMessage: string,
): BindingError {
  const message = typeof body?.message === "string" ? body.message : headerMessage;
  const byCode = typeof body?.errorCode === "string" ? WORKER_ERRORS[body.errorCode] : undefined;
  const ErrorType = byCode ?? BY_STATUS[status] ?? InvokeOutputBindingError;
  return new ErrorType(message || `binding ${binding} answered with error ${status}`, { binding });
}
