import { Match, type MsgHdrs } from "@nats-io/transport-node";
import type { RequestEnvelope } from "../binding/request.js";
import { MalformedRequestError } from "../errors.js";

export type WireMode = "json" | "raw";

const RAW_CONTENT_TYPE = "application/octet-stream";
const METADATA_HEADER_PREFIX = "metadata.";
/**
 * The request metadata the worker reads, by lower-cased name. Header names
 * are often re-cased on the way (Go's textproto canonical form turns
 * `metadata.ttlInSeconds` into `Metadata.ttlinseconds`), and a TTL silently
 * lost that way would leave a value without its expiry; so in raw mode these
 * names match in any case. Other names are passed on as written.
 */
const KNOWN_METADATA = new Map(
  ["key", "ttlInSeconds", "ttl", "delete"].map((name) => [name.toLowerCase(), name]),
);
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();
/** Sixteen digits in a row may be an integer JSON.parse would round; only then pay for the reviver. */
const MAYBE_BIG_INTEGER = /\d{16}/;
const DIGITS = /^-?\d+$/;

/** JSON.rawJSON / isRawJSON (Node >= 21); TypeScript's lib does not declare them yet. */
const RawJson = JSON as JSON & {
  rawJSON(text: string): { readonly rawJSON: string };
  isRawJSON(value: unknown): value is { readonly rawJSON: string };
};

export interface DecodedRequest {
  readonly mode: WireMode;
  readonly envelope: RequestEnvelope;
}

/** Raw mode is chosen by the caller with `Content-Type: application/octet-stream`. */
export function wireModeOf(headers: MsgHdrs | undefined): WireMode {
  if (headers === undefined) return "json";
  const contentType = headers.get("Content-Type", Match.IgnoreCase);
  return contentType.trim().toLowerCase().startsWith(RAW_CONTENT_TYPE) ? "raw" : "json";
}

export function decodeRequest(payload: Uint8Array, headers: MsgHdrs | undefined): DecodedRequest {
  const mode = wireModeOf(headers);
  return {
    mode,
    envelope: mode === "raw" ? decodeRaw(payload, headers) : decodeJson(payload),
  };
}

/** Raw mode: operation and metadata in headers, the payload is the value as it is. */
function decodeRaw(payload: Uint8Array, headers: MsgHdrs | undefined): RequestEnvelope {
  const metadata: Record<string, string> = {};
  let operation: string | undefined;
  for (const name of headers?.keys() ?? []) {
    const lower = name.toLowerCase();
    if (lower === "operation") operation = headers?.get(name);
    else if (lower.startsWith(METADATA_HEADER_PREFIX)) {
      const given = name.slice(METADATA_HEADER_PREFIX.length);
      const known = KNOWN_METADATA.get(lower.slice(METADATA_HEADER_PREFIX.length));
      metadata[known ?? given] = headers?.get(name) ?? "";
    }
  }
  return { operation, metadata, value: payload };
}

/** JSON mode: one UTF-8 JSON object with `operation`, `metadata` and `data`. */
function decodeJson(payload: Uint8Array): RequestEnvelope {
  let text: string;
  try {
    text = strictUtf8.decode(payload);
  } catch {
    throw new MalformedRequestError("request is not valid UTF-8");
  }
  let parsed: unknown;
  try {
    parsed = MAYBE_BIG_INTEGER.test(text)
      ? JSON.parse(text, keepBigIntegers as Parameters<typeof JSON.parse>[1])
      : JSON.parse(text);
  } catch (error) {
    throw new MalformedRequestError(`request is not valid JSON: ${(error as Error).message}`);
  }
  // A bare big integer comes back from the reviver as a raw-JSON object.
  if (
    parsed === null ||
    typeof parsed !== "object" ||
    Array.isArray(parsed) ||
    RawJson.isRawJSON(parsed)
  ) {
    throw new MalformedRequestError("request must be a JSON object");
  }
  const request = parsed as Record<string, unknown>;
  const operation = request.operation;
  return {
    operation,
    metadata: metadataStrings(request.metadata),
    // Only create stores data; serialising it for other operations is waste.
    value: operation === "create" && "data" in request ? serialiseData(request.data) : undefined,
  };
}

function serialiseData(data: unknown): Uint8Array | undefined {
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (error) {
    // JSON.parse takes nesting that JSON.stringify cannot recurse through.
    if (error instanceof RangeError) throw new MalformedRequestError("data is nested too deeply");
    throw error;
  }
  return json === undefined ? undefined : encoder.encode(json);
}

/** Numbers and booleans count as their string form (PROTOCOL section 3). */
function metadataStrings(metadata: unknown): Record<string, string> {
  if (metadata === undefined || metadata === null) return {};
  if (typeof metadata !== "object" || Array.isArray(metadata) || RawJson.isRawJSON(metadata)) {
    throw new MalformedRequestError("metadata must be an object");
  }
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata)) {
    switch (typeof value) {
      case "string":
        result[name] = value;
        break;
      case "number":
      case "boolean":
        result[name] = String(value);
        break;
      case "object":
        if (value === null) break;
        if (RawJson.isRawJSON(value)) {
          result[name] = value.rawJSON;
          break;
        }
        throw new MalformedRequestError(`metadata.${name} must be a string, number or boolean`);
      default:
        throw new MalformedRequestError(`metadata.${name} must be a string, number or boolean`);
    }
  }
  return result;
}

/**
 * Integers beyond 2^53 would be rounded by JSON.parse; keep their source text
 * so `create` stores exactly the digits the caller sent.
 */
function keepBigIntegers(_key: string, value: unknown, context?: { source?: string }): unknown {
  const source = context?.source;
  if (typeof value === "number" && !Number.isSafeInteger(value) && source !== undefined) {
    if (DIGITS.test(source)) return RawJson.rawJSON(source);
  }
  return value;
}
