import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";
import fc from "fast-check";

/** Generators of hostile and of well-formed requests, shared by the fuzz suites. */

export const OPERATIONS = ["create", "get", "delete", "increment"] as const;

/** Keys people really use, and the odd ones: spaces, line breaks, unicode, control characters. */
export const keyArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.string({ minLength: 1, maxLength: 40, unit: "grapheme" }),
  fc.string({ minLength: 1, maxLength: 40, unit: "binary" }),
  fc.constantFrom(
    "a b",
    " leading",
    "trailing ",
    "line\nbreak",
    "crlf\r\nkey",
    "tab\tkey",
    "ключ",
    "鍵",
    "🔑🔑",
    "é",
    "e\u0301",
    "*",
    ">",
    "bindings.cache",
    "\u0000",
    "nul\u0000inside",
    '{"json":1}',
    "x".repeat(2000),
  ),
);

export const validTtlArb: fc.Arbitrary<string | number> = fc.oneof(
  fc.integer({ min: 1, max: 10_000_000 }),
  fc.integer({ min: 1, max: 10_000_000 }).map(String),
  fc.integer({ min: 1, max: 100_000 }).map((n) => ` ${n} `),
  fc.constantFrom("1s", "90s", "1m30s", "2h", "1.5s", "1000ms", "1h0m0s", "+5s"),
);

export const invalidTtlArb: fc.Arbitrary<string | number | boolean> = fc.oneof(
  fc.constantFrom(
    "0",
    0,
    "-1",
    -5,
    "500ms",
    "999ms",
    "0s",
    "-1m",
    "abc",
    "1.5",
    1.5,
    "",
    " ",
    "1e3",
    "99999999999999999999999999999",
    "9999999999999999999999h",
    true,
    "NaN",
    "Infinity",
    "1 s",
  ),
  fc
    .string({ maxLength: 12 })
    .filter((text) => !/^\s*\+?\d+\s*$/.test(text) && !/\d+[hms]/.test(text)),
);

/** A metadata value of every JSON type, including the ones the protocol refuses. */
export const metadataValueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 20, unit: "binary" }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 2 }),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.constant({ nested: { deeper: true } }),
);

export const metadataKeyArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "key",
    "ttlInSeconds",
    "ttl",
    "delete",
    "__proto__",
    "constructor",
    "toString",
    "hasOwnProperty",
    "Key",
    "KEY",
    "key ",
    "",
  ),
  fc.string({ maxLength: 12, unit: "binary" }),
);

/** Anything in the operation field. */
export const operationArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...OPERATIONS) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("CREATE", "Get", " get", "get ", "list", "", "incr", "getdel"),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 30, unit: "binary" }) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

/** A JSON-mode request object, well-formed or not; keys may be missing. */
export const envelopeArb: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    operation: operationArb,
    metadata: fc.oneof(
      { weight: 5, arbitrary: fc.dictionary(metadataKeyArb, metadataValueArb, { maxKeys: 5 }) },
      {
        weight: 5,
        arbitrary: fc.record(
          {
            key: fc.oneof(keyArb, metadataValueArb),
            ttlInSeconds: fc.oneof(validTtlArb, invalidTtlArb),
            ttl: fc.oneof(validTtlArb, invalidTtlArb),
            delete: fc.oneof(
              fc.constantFrom("true", "false", "1", "0", "t", "f", "TRUE", " yes", ""),
              metadataValueArb,
            ),
          },
          { requiredKeys: [] },
        ),
      },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
    ),
    data: fc.jsonValue({ maxDepth: 4 }),
    extra: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

/** A request every worker must accept, and the parts it must see in it. */
export interface ValidRequest {
  readonly operation: (typeof OPERATIONS)[number];
  readonly key: string;
  readonly ttl: string | number | undefined;
  readonly deleteWord: string | undefined;
  readonly data: unknown;
  readonly extraMetadata: Record<string, string | number | boolean | null>;
}

export const validRequestArb: fc.Arbitrary<ValidRequest> = fc.record({
  operation: fc.constantFrom(...OPERATIONS),
  key: keyArb,
  ttl: fc.option(validTtlArb, { nil: undefined }),
  deleteWord: fc.option(fc.constantFrom("true", "false", "1", "0", "t", "f", "True", "FALSE"), {
    nil: undefined,
  }),
  data: fc.jsonValue({ maxDepth: 4 }),
  extraMetadata: fc.dictionary(
    fc
      .string({ maxLength: 10 })
      .filter((name) => !["key", "ttl", "ttlInSeconds", "delete", "__proto__"].includes(name)),
    fc.oneof(fc.string({ unit: "binary" }), fc.integer(), fc.boolean(), fc.constant(null)),
    { maxKeys: 4 },
  ),
});

export function validRequestBody(request: ValidRequest): Record<string, unknown> {
  const metadata: Record<string, unknown> = { ...request.extraMetadata, key: request.key };
  if (request.ttl !== undefined) metadata.ttlInSeconds = request.ttl;
  if (request.deleteWord !== undefined) metadata.delete = request.deleteWord;
  return { operation: request.operation, metadata, data: request.data };
}

/** Header names a caller might send, right or wrong, in any case. */
export const headerNameArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "Content-Type",
    "content-type",
    "CONTENT-TYPE",
    "operation",
    "Operation",
    "metadata.key",
    "metadata.ttlInSeconds",
    "metadata.ttl",
    "metadata.delete",
    "Metadata.Key",
    "metadata.",
    "metadata.__proto__",
    "Binding-Timeout",
    "binding-timeout",
    "traceparent",
    "Nats-Service-Error-Code",
    "Nats-Msg-Id",
  ),
  // Printable ASCII without ':', which is all a header name may hold.
  fc.string({
    minLength: 1,
    maxLength: 20,
    unit: fc
      .integer({ min: 33, max: 126 })
      .filter((c) => c !== 58)
      .map((c) => String.fromCharCode(c)),
  }),
);

export const contentTypeArb: fc.Arbitrary<string> = fc.constantFrom(
  "application/octet-stream",
  "APPLICATION/OCTET-STREAM",
  " application/octet-stream ",
  "application/octet-stream; charset=binary",
  "application/octet-streamish",
  "application/json",
  "text/plain",
  "",
  "octet-stream",
);

export const bindingTimeoutArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "250ms",
    "2s",
    "1500",
    "0",
    "0s",
    "-1s",
    "-5",
    "1h",
    "99999999999999999999",
    "1.5s",
    ".5s",
    "1e3",
    "abc",
    "5 s",
    "5sec",
    "1ns",
    "NaN",
    "Infinity",
    "0x10",
  ),
  fc.string({ maxLength: 16, unit: "binary" }),
  fc.integer({ min: -10, max: 100_000 }).map(String),
);

/** Header values may hold anything but CR and LF (the client refuses those). */
export const headerValueArb: fc.Arbitrary<string> = fc
  .oneof(fc.string({ maxLength: 30, unit: "binary" }), contentTypeArb, bindingTimeoutArb, keyArb)
  .map((value) => value.replace(/[\r\n]/g, " "));

export interface HeaderSpec {
  readonly entries: readonly (readonly [string, string])[];
}

export const headersArb: fc.Arbitrary<HeaderSpec> = fc.record({
  entries: fc.array(
    fc.oneof(
      fc.tuple(fc.constant("Content-Type"), contentTypeArb),
      fc.tuple(
        fc.constant("operation"),
        operationArb.map((op) => String(op).replace(/[\r\n]/g, "")),
      ),
      fc.tuple(
        fc.constant("metadata.key"),
        keyArb.map((key) => key.replace(/[\r\n]/g, "")),
      ),
      fc.tuple(
        fc.constant("Binding-Timeout"),
        bindingTimeoutArb.map((v) => v.replace(/[\r\n]/g, "")),
      ),
      fc.tuple(headerNameArb, headerValueArb),
    ),
    { maxLength: 6 },
  ),
});

export function toMsgHdrs(spec: HeaderSpec): MsgHdrs | undefined {
  if (spec.entries.length === 0) return undefined;
  const h = natsHeaders();
  for (const [name, value] of spec.entries) h.append(name, value);
  return h;
}

/** Nested arrays, objects or a mix, `depth` levels deep. */
export function deepJson(depth: number, shape: "array" | "object" | "mixed"): string {
  let open = "";
  let close = "";
  for (let level = 0; level < depth; level++) {
    const array = shape === "array" || (shape === "mixed" && level % 2 === 0);
    open += array ? "[" : '{"a":';
    close = (array ? "]" : "}") + close;
  }
  return `${open}1${close}`;
}
