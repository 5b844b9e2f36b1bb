import type { MsgHdrs } from "@nats-io/transport-node";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Invocation, OPERATIONS } from "../../src/binding/invocation.js";
import { toInvocation } from "../../src/binding/request.js";
import { BindingError } from "../../src/errors.js";
import { requestBudgetMs } from "../../src/transport/deadline.js";
import { encodeError, encodeOutcome } from "../../src/transport/reply-codec.js";
import { decodeRequest } from "../../src/transport/request-codec.js";
import {
  bindingTimeoutArb,
  deepJson,
  envelopeArb,
  headersArb,
  invalidTtlArb,
  keyArb,
  toMsgHdrs,
  validRequestArb,
  validRequestBody,
} from "./support/arbitraries.js";
import { params, runs, tally } from "./support/profile.js";

/**
 * The request decoder (request-codec.ts, then binding/request.ts toInvocation,
 * then the Binding-Timeout header) against generated input. Whatever comes in,
 * the result is either a valid invocation or a BindingError the worker can
 * encode as a PROTOCOL reply; anything else escaping would become a 500 at
 * best. Error replies must also stay small: a reply above NATS's max_payload
 * cannot be sent at all, and the caller would get nothing.
 */

const encoder = new TextEncoder();
const DEFAULT_TIMEOUT_MS = 10_000;
/** Far below NATS's default max_payload (1 MiB), whatever the request held. */
const MAX_ERROR_REPLY_BYTES = 8 * 1024;
const DECODER_CODES = new Set([
  "ERR_MALFORMED_REQUEST",
  "ERR_INVALID_REQUEST",
  "ERR_UNSUPPORTED_OPERATION",
]);

type Outcome =
  | { readonly kind: "invocation"; readonly invocation: Invocation; readonly budgetMs: number }
  | { readonly kind: "error"; readonly error: BindingError };

/** The worker's steps before Redis, in its order; anything but a BindingError escapes. */
function decode(payload: Uint8Array, headers: MsgHdrs | undefined): Outcome {
  try {
    const decoded = decodeRequest(payload, headers);
    const invocation = toInvocation(decoded.envelope);
    const budgetMs = requestBudgetMs(headers?.get("Binding-Timeout"), DEFAULT_TIMEOUT_MS);
    return { kind: "invocation", invocation, budgetMs };
  } catch (error) {
    if (error instanceof BindingError) return { kind: "error", error };
    throw error;
  }
}

/** What every outcome must satisfy, whatever the input. */
function checkOutcome(outcome: Outcome): void {
  if (outcome.kind === "error") {
    const { error } = outcome;
    expect(error.status).toBe(400);
    expect(DECODER_CODES.has(error.code)).toBe(true);
    checkErrorReply(error);
    return;
  }
  const { invocation, budgetMs } = outcome;
  expect(OPERATIONS).toContain(invocation.operation);
  expect(typeof invocation.key).toBe("string");
  expect(invocation.key.length).toBeGreaterThan(0);
  if (invocation.ttlMs !== undefined) {
    expect(Number.isFinite(invocation.ttlMs)).toBe(true);
    expect(invocation.ttlMs).toBeGreaterThanOrEqual(1000);
  }
  if (invocation.operation !== "create") expect(invocation.value).toBeUndefined();
  if (invocation.operation !== "get") expect(invocation.deleteAfterRead).toBe(false);
  expect(budgetMs).toBeGreaterThan(0);
  expect(budgetMs).toBeLessThanOrEqual(DEFAULT_TIMEOUT_MS);
}

/** The reply the worker would send for this error: ADR-32 headers and the PROTOCOL body. */
function checkErrorReply(error: BindingError): void {
  const reply = encodeError(error);
  const code = reply.headers?.get("Nats-Service-Error-Code");
  expect(code).toBe(String(error.status));
  const description = reply.headers?.get("Nats-Service-Error") ?? "";
  expect(description).not.toMatch(/[\r\n]/);
  const body = JSON.parse(Buffer.from(reply.payload).toString("utf8")) as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(["errorCode", "message"]);
  expect(body.errorCode).toBe(error.code);
  expect(typeof body.message).toBe("string");
  let size = reply.payload.length;
  for (const [name, values] of reply.headers ?? []) {
    for (const value of values) size += Buffer.byteLength(`${name}: ${value}\r\n`);
  }
  expect(size).toBeLessThanOrEqual(MAX_ERROR_REPLY_BYTES);
}

describe("fuzz: request decoder", () => {
  it("arbitrary bytes with arbitrary headers: a valid invocation or a 400, never a throw", () => {
    const numRuns = runs(300, 20_000);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), headersArb, (payload, spec) => {
        checkOutcome(decode(payload, toMsgHdrs(spec)));
      }),
      params(numRuns),
    );
    tally("decoder: arbitrary bytes + headers", numRuns);
  });

  it("arbitrary JSON request objects: a valid invocation or a 400, never a throw", () => {
    const numRuns = runs(300, 30_000);
    fc.assert(
      fc.property(envelopeArb, headersArb, (envelope, spec) => {
        const headers = toMsgHdrs(spec);
        const outcome = decode(encoder.encode(JSON.stringify(envelope)), headers);
        checkOutcome(outcome);
        // Without raw-mode headers, a decoded create carries exactly JSON.stringify(data).
        if (
          outcome.kind === "invocation" &&
          outcome.invocation.operation === "create" &&
          headers === undefined &&
          "data" in envelope
        ) {
          expect(Buffer.from(outcome.invocation.value ?? []).toString("utf8")).toBe(
            JSON.stringify(envelope.data),
          );
        }
      }),
      params(numRuns),
    );
    tally("decoder: arbitrary JSON objects + headers", numRuns);
  });

  it("any JSON value at the top level: only an object is a request", () => {
    const numRuns = runs(100, 5_000);
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (value) => {
        const outcome = decode(encoder.encode(JSON.stringify(value)), undefined);
        checkOutcome(outcome);
        if (value === null || typeof value !== "object" || Array.isArray(value)) {
          expect(outcome.kind === "error" && outcome.error.code).toBe("ERR_MALFORMED_REQUEST");
        }
      }),
      params(numRuns),
    );
    tally("decoder: top-level JSON values", numRuns);
  });

  it("well-formed requests with odd keys and metadata of every type are accepted exactly", () => {
    const numRuns = runs(300, 20_000);
    fc.assert(
      fc.property(validRequestArb, (request) => {
        const body = validRequestBody(request);
        const outcome = decode(encoder.encode(JSON.stringify(body)), undefined);
        if (outcome.kind === "error") throw outcome.error;
        const { invocation } = outcome;
        expect(invocation.operation).toBe(request.operation);
        expect(invocation.key).toBe(request.key);
        if (request.operation === "create" || request.operation === "increment") {
          expect(invocation.ttlMs !== undefined).toBe(request.ttl !== undefined);
        } else {
          expect(invocation.ttlMs).toBeUndefined();
        }
        if (request.operation === "get") {
          const word = (request.deleteWord ?? "false").toLowerCase();
          expect(invocation.deleteAfterRead).toBe(["true", "1", "t"].includes(word));
        }
        if (request.operation === "create") {
          expect(Buffer.from(invocation.value ?? []).toString("utf8")).toBe(
            JSON.stringify(request.data),
          );
        }
      }),
      params(numRuns),
    );
    tally("decoder: well-formed requests accepted exactly", numRuns);
  });

  it("one fault in a well-formed request gives the matching 400", () => {
    const numRuns = runs(200, 10_000);
    const faultArb = fc.oneof(
      fc.record({ kind: fc.constant("missing-key" as const) }),
      fc.record({ kind: fc.constant("empty-key" as const) }),
      fc.record({ kind: fc.constant("bad-ttl" as const), ttl: invalidTtlArb }),
      fc.record({
        kind: fc.constant("bad-delete" as const),
        word: fc
          .string({ maxLength: 8 })
          .filter(
            (w) => !["true", "false", "1", "0", "t", "f", ""].includes(w.trim().toLowerCase()),
          ),
      }),
      fc.record({
        kind: fc.constant("unknown-operation" as const),
        operation: fc
          .string({ minLength: 1, maxLength: 20, unit: "binary" })
          .filter((op) => !["create", "get", "delete", "increment"].includes(op)),
      }),
      fc.record({
        kind: fc.constant("operation-type" as const),
        operation: fc.oneof(fc.integer(), fc.boolean(), fc.constant([1]), fc.constant({})),
      }),
      fc.record({
        kind: fc.constant("metadata-value-type" as const),
        value: fc.oneof(fc.constant({}), fc.array(fc.integer(), { maxLength: 2 })),
      }),
      fc.record({ kind: fc.constant("bad-binding-timeout" as const), header: bindingTimeoutArb }),
    );
    fc.assert(
      fc.property(validRequestArb, faultArb, (request, fault) => {
        const body = validRequestBody({ ...request, ttl: undefined, deleteWord: undefined });
        const metadata = body.metadata as Record<string, unknown>;
        let headers: MsgHdrs | undefined;
        let expected: string;
        switch (fault.kind) {
          case "missing-key":
            delete metadata.key;
            expected = "ERR_INVALID_REQUEST";
            break;
          case "empty-key":
            metadata.key = "";
            expected = "ERR_INVALID_REQUEST";
            break;
          case "bad-ttl":
            if (request.operation !== "create" && request.operation !== "increment") return;
            metadata.ttlInSeconds = fault.ttl;
            expected = "ERR_INVALID_REQUEST";
            break;
          case "bad-delete":
            if (request.operation !== "get") return;
            metadata.delete = fault.word;
            expected = "ERR_INVALID_REQUEST";
            break;
          case "unknown-operation":
            body.operation = fault.operation;
            expected = fault.operation === "" ? "ERR_INVALID_REQUEST" : "ERR_UNSUPPORTED_OPERATION";
            break;
          case "operation-type":
            body.operation = fault.operation;
            expected = "ERR_MALFORMED_REQUEST";
            break;
          case "metadata-value-type":
            metadata.key = fault.value;
            expected = "ERR_MALFORMED_REQUEST";
            break;
          case "bad-binding-timeout": {
            const text = fault.header.replace(/[\r\n]/g, "").trim();
            let valid = false;
            try {
              valid = requestBudgetMs(text, DEFAULT_TIMEOUT_MS) > 0;
            } catch {
              valid = false;
            }
            if (valid || text === "") return;
            headers = toMsgHdrs({ entries: [["Binding-Timeout", text]] });
            expected = "ERR_INVALID_REQUEST";
            break;
          }
        }
        const outcome = decode(encoder.encode(JSON.stringify(body)), headers);
        checkOutcome(outcome);
        expect(outcome.kind === "error" ? outcome.error.code : "accepted").toBe(expected);
      }),
      params(numRuns),
    );
    tally("decoder: single faults give the matching 400", numRuns);
  });

  it("Binding-Timeout garbage: a budget within the default, or a 400", () => {
    const numRuns = runs(200, 10_000);
    fc.assert(
      fc.property(bindingTimeoutArb, (header) => {
        try {
          const budget = requestBudgetMs(header, DEFAULT_TIMEOUT_MS);
          expect(budget).toBeGreaterThan(0);
          expect(budget).toBeLessThanOrEqual(DEFAULT_TIMEOUT_MS);
        } catch (error) {
          expect(error).toBeInstanceOf(BindingError);
          expect((error as BindingError).code).toBe("ERR_INVALID_REQUEST");
          checkErrorReply(error as BindingError);
        }
      }),
      params(numRuns),
    );
    tally("decoder: Binding-Timeout values", numRuns);
  });

  it("invalid UTF-8 anywhere in a request is a 400 ERR_MALFORMED_REQUEST", () => {
    const numRuns = runs(100, 5_000);
    const badSequences = [
      [0xff],
      [0xc0, 0x80],
      [0xed, 0xa0, 0x80],
      [0xf8, 0x88, 0x80],
      [0x80],
      [0xe2, 0x82],
    ];
    fc.assert(
      fc.property(
        validRequestArb,
        fc.nat(),
        fc.constantFrom(...badSequences),
        (request, position, bad) => {
          const text = encoder.encode(JSON.stringify(validRequestBody(request)));
          const at = position % (text.length + 1);
          const payload = new Uint8Array([...text.slice(0, at), ...bad, ...text.slice(at)]);
          const outcome = decode(payload, undefined);
          checkOutcome(outcome);
          expect(outcome.kind === "error" && outcome.error.code).toBe("ERR_MALFORMED_REQUEST");
        },
      ),
      params(numRuns),
    );
    tally("decoder: invalid UTF-8", numRuns);
  });

  it("huge and deeply nested requests are answered with a 400 or accepted, never a crash", () => {
    const numRuns = runs(40, 2_000);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60_000 }),
        fc.constantFrom("array" as const, "object" as const, "mixed" as const),
        fc.constantFrom("data", "metadata", "operation", "extra", "metadata.key", "top"),
        fc.constantFrom("create", "get", "increment"),
        fc.boolean(),
        (depth, shape, where, operation, bigInteger) => {
          const deep = deepJson(depth, shape);
          // A 16-digit integer makes the decoder parse with a reviver, a different code path.
          const big = bigInteger ? ',"n":12345678901234567890' : "";
          let text: string;
          switch (where) {
            case "top":
              text = deep;
              break;
            case "metadata.key":
              text = `{"operation":"${operation}","metadata":{"key":${deep}}${big}}`;
              break;
            case "metadata":
              text = `{"operation":"${operation}","metadata":${deep}${big}}`;
              break;
            case "operation":
              text = `{"operation":${deep},"metadata":{"key":"k"}${big}}`;
              break;
            default:
              text = `{"operation":"${operation}","metadata":{"key":"k"},"${where}":${deep}${big}}`;
          }
          checkOutcome(decode(encoder.encode(text), undefined));
        },
      ),
      params(numRuns),
    );
    tally("decoder: deep and huge structures", numRuns);
  });

  it("huge values echoed into errors still give a small error reply", () => {
    const numRuns = runs(30, 1_000);
    const hugeArb = fc
      .tuple(
        fc.integer({ min: 1_000, max: 300_000 }),
        fc.constantFrom("x", "\u0001", '"', "\\", "é", "🔑", "\u2028"),
      )
      .map(([length, unit]) => unit.repeat(length));
    fc.assert(
      fc.property(
        hugeArb,
        fc.constantFrom("operation", "ttl", "delete", "metadata-name", "binding-timeout"),
        (huge, where) => {
          let body: Record<string, unknown>;
          let headers: MsgHdrs | undefined;
          switch (where) {
            case "operation":
              body = { operation: huge, metadata: { key: "k" } };
              break;
            case "ttl":
              body = { operation: "create", metadata: { key: "k", ttlInSeconds: huge } };
              break;
            case "delete":
              body = { operation: "get", metadata: { key: "k", delete: huge } };
              break;
            case "metadata-name":
              body = { operation: "get", metadata: { key: "k", [huge]: { object: true } } };
              break;
            default:
              body = { operation: "get", metadata: { key: "k" } };
              headers = toMsgHdrs({
                entries: [["Binding-Timeout", huge.replace(/[\r\n\u2028]/g, "x")]],
              });
          }
          const outcome = decode(encoder.encode(JSON.stringify(body)), headers);
          // Only blank text is fine: `delete` takes "" (after trimming) as false.
          if (!(where === "delete" && huge.trim() === "")) expect(outcome.kind).toBe("error");
          checkOutcome(outcome);
        },
      ),
      params(numRuns),
    );
    tally("decoder: huge values echoed into errors", numRuns);
  });

  it("any stored bytes encode as a JSON reply that gives the bytes back", () => {
    const numRuns = runs(200, 10_000);
    const storedArb = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.jsonValue({ maxDepth: 3 }).map((value) => encoder.encode(JSON.stringify(value))),
      fc.string({ unit: "binary", maxLength: 50 }).map((text) => encoder.encode(text)),
      fc.bigInt().map((n) => encoder.encode(` ${n} `)),
      keyArb.map((text) => encoder.encode(text)),
    );
    fc.assert(
      fc.property(storedArb, (stored) => {
        const bytes = Buffer.from(stored);
        const reply = encodeOutcome({ kind: "value", bytes }, "json");
        const parsed = JSON.parse(Buffer.from(reply.payload).toString("utf8")) as {
          data: unknown;
          metadata?: { dataEncoding?: string };
        };
        expect("data" in parsed).toBe(true);
        if (parsed.metadata?.dataEncoding === "base64") {
          expect(Buffer.from(parsed.data as string, "base64").equals(bytes)).toBe(true);
          return;
        }
        const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
        let json: unknown;
        let isJson = true;
        try {
          json = JSON.parse(text);
        } catch {
          isJson = false;
        }
        if (!isJson) {
          expect(parsed.data).toBe(text);
        } else if (/^\s*-?\d+\s*$/.test(text)) {
          expect(BigInt(String(parsed.data))).toBe(BigInt(text.trim()));
        } else {
          expect(parsed.data).toEqual(json);
        }
        // Raw mode gives the bytes as they are.
        expect(
          Buffer.from(encodeOutcome({ kind: "value", bytes }, "raw").payload).equals(bytes),
        ).toBe(true);
      }),
      params(numRuns),
    );
    tally("reply codec: stored bytes round-trip", numRuns);
  });

  it("keys of every kind reach the invocation unchanged in JSON and raw mode", () => {
    const numRuns = runs(100, 5_000);
    fc.assert(
      fc.property(keyArb, fc.uint8Array({ maxLength: 64 }), (key, value) => {
        const json = decode(
          encoder.encode(JSON.stringify({ operation: "create", metadata: { key }, data: key })),
          undefined,
        );
        if (json.kind === "error") throw json.error;
        expect(json.invocation.key).toBe(key);
        // Raw mode carries the key in a header, which holds no line breaks and is trimmed.
        const headerKey = key.replace(/[\r\n]/g, "").trim();
        const headers = toMsgHdrs({
          entries: [
            ["Content-Type", "application/octet-stream"],
            ["operation", "create"],
            ["metadata.key", headerKey],
          ],
        });
        const raw = decode(value, headers);
        if (headerKey === "") {
          expect(raw.kind === "error" && raw.error.code).toBe("ERR_INVALID_REQUEST");
          return;
        }
        if (raw.kind === "error") throw raw.error;
        expect(raw.invocation.key).toBe(headerKey);
        expect(raw.invocation.value).toBe(value);
      }),
      params(numRuns),
    );
    tally("decoder: keys in JSON and raw mode", numRuns);
  });
});
