/**
 * The error catalogue of the wire contract (PROTOCOL section 5). Every failure
 * that reaches a caller is one of these classes, so the transport only has to
 * read `status` and `code`; nothing else decides what a caller sees.
 */
export type ErrorCode =
  | "ERR_MALFORMED_REQUEST"
  | "ERR_INVALID_REQUEST"
  | "ERR_UNSUPPORTED_OPERATION"
  | "ERR_VALUE_CONFLICT"
  | "ERR_PAYLOAD_TOO_LARGE"
  | "ERR_BINDING_UNAVAILABLE"
  | "ERR_BINDING_TIMEOUT"
  | "ERR_INVOKE_OUTPUT_BINDING";

export abstract class BindingError extends Error {
  abstract readonly code: ErrorCode;
  abstract readonly status: number;
  /** Whether the same request may succeed if sent again later. */
  abstract readonly retryable: boolean;

  constructor(message: string, options?: { cause?: unknown }) {
    super(capLength(message), options);
    this.name = new.target.name;
  }
}

/**
 * Messages often quote the request (an unknown operation, a bad TTL): capped,
 * so a huge field cannot make the error reply (header and body, escaped) too
 * large for NATS to deliver, nor flood logs and `$SRV.STATS`.
 */
const MAX_MESSAGE_CHARS = 512;

function capLength(message: string): string {
  if (message.length <= MAX_MESSAGE_CHARS) return message;
  let cut = message.slice(0, MAX_MESSAGE_CHARS);
  // Do not leave half of a surrogate pair at the end.
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}... (${message.length} characters)`;
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

  constructor(bindingName: string, cause: unknown) {
    super(`error invoking output binding ${bindingName}: ${describeCause(cause)}`, { cause });
  }
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  return String(cause);
}

/**
 * A configuration problem found at start-up. The message always names the
 * file, the component and the field so an operator can go straight to it.
 */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly component: string | undefined,
    readonly field: string | undefined,
    readonly reason: string,
  ) {
    super(
      `${[
        file,
        component !== undefined ? `component "${component}"` : undefined,
        field !== undefined ? `field "${field}"` : undefined,
      ]
        .filter((part) => part !== undefined)
        .join(", ")}: ${reason}`,
    );
    this.name = "ConfigError";
  }
}
