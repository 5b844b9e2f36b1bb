import { describe, expect, it } from "vitest";
import { toInvocation } from "../../src/binding/request.js";
import { parseTtl } from "../../src/binding/ttl.js";
import {
  InvalidRequestError,
  MalformedRequestError,
  UnsupportedOperationError,
} from "../../src/errors.js";

const value = new TextEncoder().encode('"v"');

describe("toInvocation", () => {
  it("accepts every operation with a key", () => {
    for (const operation of ["create", "get", "delete", "increment"]) {
      const invocation = toInvocation({ operation, metadata: { key: "k" }, value });
      expect(invocation.operation).toBe(operation);
      expect(invocation.key).toBe("k");
    }
  });

  it("keeps the value for create only", () => {
    expect(toInvocation({ operation: "create", metadata: { key: "k" }, value }).value).toBe(value);
    expect(toInvocation({ operation: "get", metadata: { key: "k" }, value }).value).toBeUndefined();
  });

  it("rejects a missing or empty operation as invalid", () => {
    expect(() => toInvocation({ operation: undefined, metadata: { key: "k" }, value })).toThrow(
      InvalidRequestError,
    );
    expect(() => toInvocation({ operation: "", metadata: { key: "k" }, value })).toThrow(
      InvalidRequestError,
    );
  });

  it("rejects an operation of the wrong type as malformed", () => {
    expect(() => toInvocation({ operation: 7, metadata: { key: "k" }, value })).toThrow(
      MalformedRequestError,
    );
  });

  it("lists the supported operations for an unknown one", () => {
    expect(() => toInvocation({ operation: "list", metadata: { key: "k" }, value })).toThrow(
      /unsupported operation "list"; supported operations: create, get, delete, increment/,
    );
    expect(() => toInvocation({ operation: "list", metadata: {}, value })).toThrow(
      UnsupportedOperationError,
    );
  });

  it("requires a non-empty key", () => {
    expect(() => toInvocation({ operation: "get", metadata: {}, value })).toThrow(
      /missing metadata.key/,
    );
    expect(() => toInvocation({ operation: "get", metadata: { key: "" }, value })).toThrow(
      InvalidRequestError,
    );
  });

  it("reads ttlInSeconds and its alias ttl for create and increment", () => {
    expect(
      toInvocation({ operation: "create", metadata: { key: "k", ttlInSeconds: "60" }, value })
        .ttlMs,
    ).toBe(60_000);
    expect(
      toInvocation({ operation: "increment", metadata: { key: "k", ttl: "1m30s" }, value }).ttlMs,
    ).toBe(90_000);
    expect(
      toInvocation({ operation: "get", metadata: { key: "k", ttl: "junk" }, value }).ttlMs,
    ).toBeUndefined();
  });

  it("answers a bad TTL with 400", () => {
    for (const ttl of ["0", "-1", "500ms", "abc", "1.5", "-5s", ""]) {
      expect(
        () =>
          toInvocation({ operation: "create", metadata: { key: "k", ttlInSeconds: ttl }, value }),
        ttl,
      ).toThrow(InvalidRequestError);
    }
  });

  it("reads delete for get and rejects words that are not booleans", () => {
    expect(
      toInvocation({ operation: "get", metadata: { key: "k", delete: "true" }, value })
        .deleteAfterRead,
    ).toBe(true);
    expect(
      toInvocation({ operation: "get", metadata: { key: "k", delete: "T" }, value })
        .deleteAfterRead,
    ).toBe(true);
    expect(
      toInvocation({ operation: "get", metadata: { key: "k", delete: "false" }, value })
        .deleteAfterRead,
    ).toBe(false);
    expect(() =>
      toInvocation({ operation: "get", metadata: { key: "k", delete: "yes" }, value }),
    ).toThrow(/bad metadata.delete/);
  });
});

describe("parseTtl", () => {
  it("takes whole seconds and durations of at least one second", () => {
    expect(parseTtl("1")).toBe(1000);
    expect(parseTtl("3600")).toBe(3_600_000);
    expect(parseTtl("90s")).toBe(90_000);
    expect(parseTtl("1h")).toBe(3_600_000);
    expect(parseTtl("1500ms")).toBe(1500);
    expect(parseTtl(" 10 ")).toBe(10_000);
  });

  it("refuses anything below a second, negative or unparseable", () => {
    for (const text of ["0", "999ms", "0s", "-1", "-2s", "1.5", "ten", "1e3", ""]) {
      expect(parseTtl(text), text).toBeUndefined();
    }
  });

  it("refuses a TTL JavaScript cannot hold exactly", () => {
    expect(parseTtl("99999999999999999999")).toBeUndefined();
  });
});
