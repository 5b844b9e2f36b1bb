import {
  InvalidRequestError,
  MalformedRequestError,
  UnsupportedOperationError,
} from "../errors.js";
import { type Invocation, isOperation, OPERATIONS } from "./invocation.js";
import { parseTtl } from "./ttl.js";

/** What a codec hands over: the envelope, before its meaning is checked. */
export interface RequestEnvelope {
  readonly operation: unknown;
  /** Metadata values already in their string form. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly value: Uint8Array | undefined;
}

const TRUE_WORDS = new Set(["true", "1", "t"]);
const FALSE_WORDS = new Set(["false", "0", "f", ""]);
const SUPPORTED = OPERATIONS.join(", ");

/** Checks the envelope against PROTOCOL section 3 and returns a ready invocation. */
export function toInvocation(envelope: RequestEnvelope): Invocation {
  const { operation, metadata } = envelope;
  if (operation === undefined || operation === null || operation === "") {
    throw new InvalidRequestError("missing operation");
  }
  if (typeof operation !== "string") {
    throw new MalformedRequestError("operation must be a string");
  }
  if (!isOperation(operation)) {
    throw new UnsupportedOperationError(
      `unsupported operation ${JSON.stringify(operation)}; supported operations: ${SUPPORTED}`,
    );
  }

  const key = metadata.key;
  if (key === undefined || key === "") {
    throw new InvalidRequestError("missing metadata.key");
  }

  let ttlMs: number | undefined;
  if (operation === "create" || operation === "increment") {
    const ttlText = metadata.ttlInSeconds ?? metadata.ttl;
    if (ttlText !== undefined) {
      ttlMs = parseTtl(ttlText);
      if (ttlMs === undefined) {
        throw new InvalidRequestError(
          `bad ttlInSeconds ${JSON.stringify(ttlText)}: want a positive integer of seconds or a duration of at least 1s`,
        );
      }
    }
  }

  let deleteAfterRead = false;
  if (operation === "get" && metadata.delete !== undefined) {
    const word = metadata.delete.trim().toLowerCase();
    if (TRUE_WORDS.has(word)) deleteAfterRead = true;
    else if (!FALSE_WORDS.has(word)) {
      throw new InvalidRequestError(
        `bad metadata.delete ${JSON.stringify(metadata.delete)}: want "true" or "false"`,
      );
    }
  }

  return {
    operation,
    key,
    value: operation === "create" ? envelope.value : undefined,
    ttlMs,
    deleteAfterRead,
  };
}
