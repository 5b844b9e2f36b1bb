import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";
import type { Outcome } from "../binding/operations.js";
import type { BindingError } from "../errors.js";
import type { WireMode } from "./request-codec.js";

export interface Reply {
  readonly payload: Uint8Array;
  readonly headers: MsgHdrs | undefined;
}

const EMPTY_REPLY: Reply = Object.freeze({ payload: new Uint8Array(0), headers: undefined });
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const DIGITS = /^\s*-?\d+\s*$/;

/** Encodes a successful outcome as PROTOCOL section 5 says. */
export function encodeOutcome(outcome: Outcome, mode: WireMode): Reply {
  switch (outcome.kind) {
    case "empty":
      return EMPTY_REPLY;
    case "value":
      return {
        payload: mode === "raw" ? outcome.bytes : encodeStoredValue(outcome.bytes),
        headers: undefined,
      };
    case "counter":
      return {
        payload: Buffer.from(
          mode === "raw" ? outcome.value : `{"data":${integerJson(outcome.value)}}`,
        ),
        headers: undefined,
      };
  }
}

/**
 * `{"data": <value>}` for stored bytes: JSON text is embedded verbatim, so
 * values round-trip exactly (no parse-and-reprint drift); a bare integer past
 * 2^53 becomes a string; other UTF-8 text a JSON string; anything else base64.
 */
export function encodeStoredValue(bytes: Buffer): Buffer {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return Buffer.from(
      `{"data":"${bytes.toString("base64")}","metadata":{"dataEncoding":"base64"}}`,
    );
  }
  if (isJson(text)) {
    if (DIGITS.test(text)) return Buffer.from(`{"data":${integerJson(text.trim())}}`);
    return Buffer.from(`{"data":${text}}`);
  }
  return Buffer.from(`{"data":${JSON.stringify(text)}}`);
}

function isJson(text: string): boolean {
  if (text.length === 0) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** A safe integer as a JSON number, a larger one as a JSON string of its digits. */
function integerJson(digits: string): string {
  return Number.isSafeInteger(Number(digits)) ? digits : `"${digits}"`;
}

/** ADR-32 error headers plus the JSON body callers parse. */
export function encodeError(error: BindingError): Reply {
  const message = oneLine(error.message);
  const headers = natsHeaders();
  headers.set("Nats-Service-Error-Code", String(error.status));
  headers.set("Nats-Service-Error", message);
  return {
    payload: Buffer.from(JSON.stringify({ errorCode: error.code, message })),
    headers,
  };
}

/** Header values cannot carry line breaks. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, " ");
}
