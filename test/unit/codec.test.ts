import { headers } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import {
  BindingUnavailableError,
  MalformedRequestError,
  ValueConflictError,
} from "../../src/errors.js";
import { encodeError, encodeOutcome, encodeStoredValue } from "../../src/transport/reply-codec.js";
import { decodeRequest } from "../../src/transport/request-codec.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined) =>
  data === undefined ? undefined : new TextDecoder().decode(data);

describe("decodeRequest, JSON mode", () => {
  it("reads operation, metadata and data", () => {
    const { mode, envelope } = decodeRequest(
      bytes('{"operation":"create","metadata":{"key":"k"},"data":{"Hello":"World"}}'),
      undefined,
    );
    expect(mode).toBe("json");
    expect(envelope.operation).toBe("create");
    expect(envelope.metadata).toEqual({ key: "k" });
    expect(text(envelope.value)).toBe('{"Hello":"World"}');
  });

  it("stores a string with its quotes, as Dapr's HTTP API does", () => {
    const { envelope } = decodeRequest(
      bytes('{"operation":"create","metadata":{"key":"k"},"data":"hi"}'),
      undefined,
    );
    expect(text(envelope.value)).toBe('"hi"');
  });

  it("keeps integers beyond 2^53 digit for digit", () => {
    const { envelope } = decodeRequest(
      bytes(
        '{"operation":"create","metadata":{"key":"k"},"data":{"id":12345678901234567890,"n":[9007199254740993]}}',
      ),
      undefined,
    );
    expect(text(envelope.value)).toBe('{"id":12345678901234567890,"n":[9007199254740993]}');
  });

  it("turns metadata numbers and booleans into their string form", () => {
    const { envelope } = decodeRequest(
      bytes(
        '{"operation":"get","metadata":{"key":42,"delete":true,"ttlInSeconds":12345678901234567890}}',
      ),
      undefined,
    );
    expect(envelope.metadata).toEqual({
      key: "42",
      delete: "true",
      ttlInSeconds: "12345678901234567890",
    });
  });

  it("does not serialise data for operations that do not store it", () => {
    const { envelope } = decodeRequest(
      bytes('{"operation":"get","metadata":{"key":"k"},"data":{"a":1}}'),
      undefined,
    );
    expect(envelope.value).toBeUndefined();
  });

  it("refuses what is not a UTF-8 JSON object", () => {
    for (const payload of ["", "not json", "[]", "42", '"s"', "null", '{"operation":'] as const) {
      expect(() => decodeRequest(bytes(payload), undefined), payload).toThrow(
        MalformedRequestError,
      );
    }
    expect(() => decodeRequest(new Uint8Array([0x7b, 0xff, 0x7d]), undefined)).toThrow(/UTF-8/);
  });

  it("refuses metadata that is not an object of scalars", () => {
    for (const payload of [
      '{"operation":"get","metadata":[]}',
      '{"operation":"get","metadata":"k"}',
      '{"operation":"get","metadata":{"key":{"a":1}}}',
      '{"operation":"get","metadata":{"key":["k"]}}',
    ]) {
      expect(() => decodeRequest(bytes(payload), undefined), payload).toThrow(
        MalformedRequestError,
      );
    }
  });
});

describe("decodeRequest, raw mode", () => {
  it("takes operation and metadata from headers and the payload as the value", () => {
    const h = headers();
    h.set("Content-Type", "application/octet-stream");
    h.set("operation", "create");
    h.set("metadata.key", "bin");
    h.set("metadata.ttlInSeconds", "5");
    const payload = new Uint8Array([0, 255, 1]);
    const { mode, envelope } = decodeRequest(payload, h);
    expect(mode).toBe("raw");
    expect(envelope.operation).toBe("create");
    expect(envelope.metadata).toEqual({ key: "bin", ttlInSeconds: "5" });
    expect(envelope.value).toBe(payload);
  });

  it("reads the metadata it knows whatever the case of the header name", () => {
    // As Go's textproto.CanonicalMIMEHeaderKey writes them.
    const h = headers();
    h.set("Content-Type", "application/octet-stream");
    h.set("Operation", "get");
    h.set("Metadata.key", "bin");
    h.set("Metadata.ttlinseconds", "5");
    h.set("METADATA.DELETE", "true");
    h.set("Metadata.Custom", "as written");
    const { envelope } = decodeRequest(new Uint8Array(), h);
    expect(envelope.operation).toBe("get");
    expect(envelope.metadata).toEqual({
      key: "bin",
      ttlInSeconds: "5",
      delete: "true",
      Custom: "as written",
    });
  });
});

describe("encodeStoredValue", () => {
  const decode = (stored: string | Buffer) =>
    JSON.parse(
      encodeStoredValue(typeof stored === "string" ? Buffer.from(stored) : stored).toString(),
    );

  it("embeds JSON as it was stored", () => {
    expect(decode('{"Hello":"World","Lorem":"Ipsum"}')).toEqual({
      data: { Hello: "World", Lorem: "Ipsum" },
    });
    expect(decode('"quoted"')).toEqual({ data: "quoted" });
    expect(decode("3.5")).toEqual({ data: 3.5 });
    expect(encodeStoredValue(Buffer.from('{"id":12345678901234567890}')).toString()).toBe(
      '{"data":{"id":12345678901234567890}}',
    );
  });

  it("turns a bare integer beyond 2^53 into a string", () => {
    expect(decode("12345678901234567890")).toEqual({ data: "12345678901234567890" });
    expect(decode("9007199254740991")).toEqual({ data: 9007199254740991 });
  });

  it("returns other UTF-8 text as a string and other bytes as base64", () => {
    expect(decode("plain text")).toEqual({ data: "plain text" });
    expect(decode("")).toEqual({ data: "" });
    expect(decode(Buffer.from([0xff, 0x00, 0x80]))).toEqual({
      data: Buffer.from([0xff, 0x00, 0x80]).toString("base64"),
      metadata: { dataEncoding: "base64" },
    });
  });
});

describe("encodeOutcome", () => {
  it("answers empty outcomes with an empty payload and no headers", () => {
    const reply = encodeOutcome({ kind: "empty" }, "json");
    expect(reply.payload.length).toBe(0);
    expect(reply.headers).toBeUndefined();
  });

  it("returns counters as numbers, big ones as strings", () => {
    expect(text(encodeOutcome({ kind: "counter", value: "5" }, "json").payload)).toBe('{"data":5}');
    expect(
      text(encodeOutcome({ kind: "counter", value: "9223372036854775807" }, "json").payload),
    ).toBe('{"data":"9223372036854775807"}');
    expect(text(encodeOutcome({ kind: "counter", value: "5" }, "raw").payload)).toBe("5");
  });

  it("returns stored bytes as they are in raw mode", () => {
    const bytesStored = Buffer.from([1, 2, 3]);
    expect(encodeOutcome({ kind: "value", bytes: bytesStored }, "raw").payload).toBe(bytesStored);
  });
});

describe("encodeError", () => {
  it("sets the ADR-32 headers and the JSON body", () => {
    const reply = encodeError(new ValueConflictError("WRONGTYPE Operation\nagainst a key"));
    expect(reply.headers?.get("Nats-Service-Error-Code")).toBe("409");
    expect(reply.headers?.get("Nats-Service-Error")).toBe("WRONGTYPE Operation against a key");
    expect(JSON.parse(text(reply.payload) ?? "")).toEqual({
      errorCode: "ERR_VALUE_CONFLICT",
      message: "WRONGTYPE Operation against a key",
    });
  });

  it("carries the status of each error class", () => {
    expect(
      encodeError(new BindingUnavailableError("down")).headers?.get("Nats-Service-Error-Code"),
    ).toBe("503");
  });
});
