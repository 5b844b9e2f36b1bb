import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { rawRequest, request } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

/**
 * Every operation and every error code of PROTOCOL section 5, over real NATS
 * to a real Redis, through a worker configured by a component file.
 */
describe("operations over NATS", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let worker: TestWorker;
  let nc: NatsConnection;
  let direct: Redis;
  const subject = "bindings.cache";

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer(), redisServer()]);
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [redisComponent("cache", { redisHost: `${redis.host}:${redis.port}` })],
      env: { MAX_REQUEST_BYTES: "4096" },
    });
    nc = await connect({ servers: nats.url });
    direct = new Redis({ host: redis.host, port: redis.port });
  });

  afterAll(async () => {
    await nc?.close();
    direct?.disconnect();
    await worker?.stop();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  const call = (body: unknown, headers?: Record<string, string>) =>
    request(nc, subject, body, headers ? { headers } : {});

  describe("create", () => {
    it("stores JSON.stringify(data) and answers with an empty success", async () => {
      const reply = await call({
        operation: "create",
        metadata: { key: "seed" },
        data: { Hello: "World", Lorem: "Ipsum" },
      });
      expect(reply.status).toBe(200);
      expect(reply.text).toBe("");
      expect(reply.msg.headers?.get("Nats-Service-Error-Code") ?? "").toBe("");
      expect(await direct.get("seed")).toBe('{"Hello":"World","Lorem":"Ipsum"}');
    });

    it("sets the TTL in the same command", async () => {
      await call({ operation: "create", metadata: { key: "ttl1", ttlInSeconds: "100" }, data: 1 });
      const pttl = await direct.pttl("ttl1");
      expect(pttl).toBeGreaterThan(95_000);
      expect(pttl).toBeLessThanOrEqual(100_000);
      await call({ operation: "create", metadata: { key: "ttl2", ttl: "2m" }, data: 1 });
      expect(await direct.ttl("ttl2")).toBeGreaterThan(110);
    });

    it("overwrites and clears an old TTL when none is given", async () => {
      await call({ operation: "create", metadata: { key: "ow", ttlInSeconds: 50 }, data: "a" });
      await call({ operation: "create", metadata: { key: "ow" }, data: "b" });
      expect(await direct.get("ow")).toBe('"b"');
      expect(await direct.ttl("ow")).toBe(-1);
    });
  });

  describe("get", () => {
    it("round-trips strings, objects, numbers, booleans, null and big integers exactly", async () => {
      const values = [
        "plain",
        "",
        { nested: { list: [1, 2, { deep: true }] }, unicode: "żółć ✓" },
        42,
        -3.25,
        true,
        null,
        [],
      ];
      for (const [index, data] of values.entries()) {
        await call({ operation: "create", metadata: { key: `rt${index}` }, data });
        const reply = await call({ operation: "get", metadata: { key: `rt${index}` } });
        expect(reply.status).toBe(200);
        expect(reply.json).toEqual({ data });
      }
      const big =
        '{"operation":"create","metadata":{"key":"big"},"data":{"id":12345678901234567890}}';
      await call(big);
      expect((await call({ operation: "get", metadata: { key: "big" } })).text).toBe(
        '{"data":{"id":12345678901234567890}}',
      );
      await direct.set("bare-big", "12345678901234567890");
      expect((await call({ operation: "get", metadata: { key: "bare-big" } })).json).toEqual({
        data: "12345678901234567890",
      });
    });

    it("answers a missing key with an empty success", async () => {
      const reply = await call({ operation: "get", metadata: { key: "never-set" } });
      expect(reply.status).toBe(200);
      expect(reply.text).toBe("");
    });

    it("returns non-JSON text as a string and other bytes as base64", async () => {
      await direct.set("text", "not json at all");
      expect((await call({ operation: "get", metadata: { key: "text" } })).json).toEqual({
        data: "not json at all",
      });
      await direct.set("bytes", Buffer.from([0xff, 0xfe, 0x00, 0x01]));
      expect((await call({ operation: "get", metadata: { key: "bytes" } })).json).toEqual({
        data: Buffer.from([0xff, 0xfe, 0x00, 0x01]).toString("base64"),
        metadata: { dataEncoding: "base64" },
      });
    });

    it("reads and deletes atomically with delete: true", async () => {
      await call({ operation: "create", metadata: { key: "gd" }, data: { a: 1 } });
      const reply = await call({ operation: "get", metadata: { key: "gd", delete: "true" } });
      expect(reply.json).toEqual({ data: { a: 1 } });
      expect(await direct.exists("gd")).toBe(0);
      const again = await call({ operation: "get", metadata: { key: "gd", delete: true } });
      expect(again.text).toBe("");
    });

    it("keeps the key with delete: false", async () => {
      await call({ operation: "create", metadata: { key: "gk" }, data: 1 });
      await call({ operation: "get", metadata: { key: "gk", delete: "false" } });
      expect(await direct.exists("gk")).toBe(1);
    });
  });

  describe("delete", () => {
    it("deletes, and succeeds whether or not the key existed", async () => {
      await direct.set("del", "1");
      expect((await call({ operation: "delete", metadata: { key: "del" } })).status).toBe(200);
      expect(await direct.exists("del")).toBe(0);
      const again = await call({ operation: "delete", metadata: { key: "del" } });
      expect(again.status).toBe(200);
      expect(again.text).toBe("");
    });
  });

  describe("increment", () => {
    it("counts and returns the new value", async () => {
      expect((await call({ operation: "increment", metadata: { key: "n" } })).json).toEqual({
        data: 1,
      });
      expect((await call({ operation: "increment", metadata: { key: "n" } })).json).toEqual({
        data: 2,
      });
      expect(await direct.get("n")).toBe("2");
    });

    it("applies a TTL atomically with the increment", async () => {
      const reply = await call({
        operation: "increment",
        metadata: { key: "nt", ttlInSeconds: "30" },
      });
      expect(reply.json).toEqual({ data: 1 });
      const ttl = await direct.ttl("nt");
      expect(ttl).toBeGreaterThan(25);
      expect(ttl).toBeLessThanOrEqual(30);
    });

    it("returns counters beyond 2^53 as strings", async () => {
      await direct.set("huge", "9223372036854775806");
      expect((await call({ operation: "increment", metadata: { key: "huge" } })).json).toEqual({
        data: "9223372036854775807",
      });
    });

    it("answers 409 for a value that is not an integer, and leaves its TTL alone", async () => {
      await direct.set("word", "abc");
      const reply = await call({
        operation: "increment",
        metadata: { key: "word", ttlInSeconds: "5" },
      });
      expect(reply.status).toBe(409);
      expect(reply.json).toMatchObject({ errorCode: "ERR_VALUE_CONFLICT" });
      expect(await direct.ttl("word")).toBe(-1);
    });

    it("answers 409 on overflow", async () => {
      await direct.set("max", "9223372036854775807");
      expect((await call({ operation: "increment", metadata: { key: "max" } })).status).toBe(409);
    });
  });

  describe("raw mode", () => {
    it("stores and returns bytes as they are", async () => {
      const bytes = new Uint8Array([0, 1, 2, 0xff, 0xfe, 10, 13]);
      expect((await rawRequest(nc, subject, "create", { key: "raw" }, bytes)).status).toBe(200);
      expect(Buffer.compare((await direct.getBuffer("raw")) as Buffer, Buffer.from(bytes))).toBe(0);
      const reply = await rawRequest(nc, subject, "get", { key: "raw" });
      expect(Buffer.from(reply.msg.data)).toEqual(Buffer.from(bytes));
    });

    it("takes TTL and delete from metadata headers", async () => {
      await rawRequest(
        nc,
        subject,
        "create",
        { key: "rawttl", ttlInSeconds: "40" },
        new Uint8Array([1]),
      );
      expect(await direct.ttl("rawttl")).toBeGreaterThan(35);
      const reply = await rawRequest(nc, subject, "get", { key: "rawttl", delete: "true" });
      expect(Array.from(reply.msg.data)).toEqual([1]);
      expect(await direct.exists("rawttl")).toBe(0);
    });

    it("answers increment with the value as text", async () => {
      const reply = await rawRequest(nc, subject, "increment", { key: "rawn" });
      expect(reply.text).toBe("1");
    });
  });

  describe("error codes", () => {
    const expectError = async (
      body: unknown,
      status: number,
      errorCode: string,
      message?: RegExp,
      headers?: Record<string, string>,
    ) => {
      const reply = await call(body, headers);
      expect(reply.status, JSON.stringify(body)).toBe(status);
      expect(reply.msg.headers?.get("Nats-Service-Error")).toBeTruthy();
      const json = reply.json as { errorCode: string; message: string };
      expect(json.errorCode).toBe(errorCode);
      if (message) expect(json.message).toMatch(message);
    };

    it("400 ERR_MALFORMED_REQUEST for payloads that are not a JSON object or have wrong types", async () => {
      await expectError("{not json", 400, "ERR_MALFORMED_REQUEST", /not valid JSON/);
      await expectError("", 400, "ERR_MALFORMED_REQUEST");
      await expectError("[1,2]", 400, "ERR_MALFORMED_REQUEST", /JSON object/);
      await expectError('"create"', 400, "ERR_MALFORMED_REQUEST", /JSON object/);
      await expectError(
        new Uint8Array([0x7b, 0xc3, 0x28, 0x7d]),
        400,
        "ERR_MALFORMED_REQUEST",
        /UTF-8/,
      );
      await expectError(
        { operation: 5, metadata: { key: "k" } },
        400,
        "ERR_MALFORMED_REQUEST",
        /operation/,
      );
      await expectError(
        { operation: "get", metadata: ["k"] },
        400,
        "ERR_MALFORMED_REQUEST",
        /metadata/,
      );
      await expectError(
        { operation: "get", metadata: { key: { a: 1 } } },
        400,
        "ERR_MALFORMED_REQUEST",
      );
    });

    it("400 ERR_INVALID_REQUEST for a missing operation or key, a bad TTL or delete", async () => {
      await expectError(
        { metadata: { key: "k" } },
        400,
        "ERR_INVALID_REQUEST",
        /missing operation/,
      );
      await expectError({ operation: "get" }, 400, "ERR_INVALID_REQUEST", /missing metadata.key/);
      await expectError({ operation: "get", metadata: { key: "" } }, 400, "ERR_INVALID_REQUEST");
      for (const ttl of ["0", "-5", "500ms", "soon"]) {
        await expectError(
          { operation: "create", metadata: { key: "k", ttlInSeconds: ttl }, data: 1 },
          400,
          "ERR_INVALID_REQUEST",
          /ttlInSeconds/,
        );
      }
      await expectError(
        { operation: "get", metadata: { key: "k", delete: "maybe" } },
        400,
        "ERR_INVALID_REQUEST",
        /delete/,
      );
      await expectError(
        { operation: "get", metadata: { key: "k" } },
        400,
        "ERR_INVALID_REQUEST",
        /Binding-Timeout/,
        {
          "Binding-Timeout": "whenever",
        },
      );
    });

    it("a bad TTL stores nothing", async () => {
      await call({ operation: "create", metadata: { key: "badttl", ttlInSeconds: "0" }, data: 1 });
      expect(await direct.exists("badttl")).toBe(0);
    });

    it("400 ERR_UNSUPPORTED_OPERATION lists the supported operations", async () => {
      await expectError(
        { operation: "list", metadata: { key: "k" } },
        400,
        "ERR_UNSUPPORTED_OPERATION",
        /create, get, delete, increment/,
      );
    });

    it("409 ERR_VALUE_CONFLICT for WRONGTYPE", async () => {
      await direct.lpush("a-list", "x");
      await expectError(
        { operation: "get", metadata: { key: "a-list" } },
        409,
        "ERR_VALUE_CONFLICT",
        /WRONGTYPE/,
      );
      await expectError(
        { operation: "increment", metadata: { key: "a-list" } },
        409,
        "ERR_VALUE_CONFLICT",
      );
    });

    it("413 ERR_PAYLOAD_TOO_LARGE above MAX_REQUEST_BYTES", async () => {
      await expectError(
        { operation: "create", metadata: { key: "big" }, data: "x".repeat(5000) },
        413,
        "ERR_PAYLOAD_TOO_LARGE",
        /above the limit of 4096/,
      );
    });

    it("500 ERR_INVOKE_OUTPUT_BINDING for other Redis failures", async () => {
      await direct.call("ACL", "SETUSER", "default", "resetkeys", "~allowed:*");
      try {
        await expectError(
          { operation: "get", metadata: { key: "forbidden" } },
          500,
          "ERR_INVOKE_OUTPUT_BINDING",
          /^error invoking output binding cache: NOPERM/,
        );
      } finally {
        await direct.call("ACL", "SETUSER", "default", "allkeys");
      }
    });

    it("504 ERR_BINDING_TIMEOUT when the request's deadline passes", async () => {
      await direct.call("CLIENT", "PAUSE", "600", "ALL");
      await expectError(
        { operation: "get", metadata: { key: "k" } },
        504,
        "ERR_BINDING_TIMEOUT",
        /deadline/,
        {
          "Binding-Timeout": "150ms",
        },
      );
      await new Promise((resolve) => setTimeout(resolve, 700));
    });
  });
});
