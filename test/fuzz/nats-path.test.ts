import { randomBytes } from "node:crypto";
import {
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  headers as natsHeaders,
} from "@nats-io/transport-node";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { durableRequest } from "../../src/transport/durable/request.js";
import { wireModeOf } from "../../src/transport/request-codec.js";
import { callerConnection } from "../faults/support/stack.js";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";
import {
  deepJson,
  envelopeArb,
  headersArb,
  keyArb,
  toMsgHdrs,
  validRequestArb,
  validRequestBody,
} from "./support/arbitraries.js";
import { params, runs, tally } from "./support/profile.js";
import { parseHeaderBlock, RawNatsClient } from "./support/raw-nats.js";

/**
 * Generated requests through the whole path: a NATS client (or a bare
 * protocol client sending what libraries refuse to), nats-server, a worker, a
 * real Redis. Every request must get exactly one reply with a PROTOCOL code
 * and body, while a canary request running alongside keeps succeeding.
 */

const SUBJECT = "bindings.cache";
const MAX_REQUEST_BYTES = 256 * 1024;
const PROTOCOL_CODES: Record<number, readonly string[]> = {
  400: ["ERR_MALFORMED_REQUEST", "ERR_INVALID_REQUEST", "ERR_UNSUPPORTED_OPERATION"],
  409: ["ERR_VALUE_CONFLICT"],
  413: ["ERR_PAYLOAD_TOO_LARGE"],
  500: ["ERR_INVOKE_OUTPUT_BINDING"],
  503: ["ERR_BINDING_UNAVAILABLE"],
  504: ["ERR_BINDING_TIMEOUT"],
};
const encoder = new TextEncoder();

interface Reply {
  readonly status: number;
  readonly payload: Buffer;
  readonly headers: Map<string, string>;
}

/** Checks a reply against PROTOCOL section 5 and returns its status. */
function checkReply(reply: Reply, mode: "json" | "raw"): number {
  if (reply.status === 200) {
    expect(reply.headers.has("Nats-Service-Error-Code")).toBe(false);
    if (mode === "json" && reply.payload.length > 0) {
      const body = JSON.parse(reply.payload.toString("utf8")) as Record<string, unknown>;
      expect("data" in body).toBe(true);
    }
    return 200;
  }
  const codes = PROTOCOL_CODES[reply.status];
  expect(codes, `status ${reply.status} is not a PROTOCOL code`).toBeDefined();
  expect(reply.headers.get("Nats-Service-Error") ?? "").not.toBe("");
  const body = JSON.parse(reply.payload.toString("utf8")) as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(["errorCode", "message"]);
  expect(codes).toContain(body.errorCode);
  expect(typeof body.message).toBe("string");
  return reply.status;
}

function fromMsg(msg: Msg): Reply {
  const headers = new Map<string, string>();
  for (const name of msg.headers?.keys() ?? []) headers.set(name, msg.headers?.get(name) ?? "");
  const code = headers.get("Nats-Service-Error-Code");
  return { status: code ? Number(code) : 200, payload: Buffer.from(msg.data), headers };
}

/**
 * Replies collected by reply subject: every request names its own, so a
 * second reply to the same request would be seen and counted.
 */
class ReplyBook {
  readonly replies = new Map<string, Reply[]>();
  private readonly waiters = new Map<string, (reply: Reply) => void>();

  add(id: string, reply: Reply): void {
    const list = this.replies.get(id) ?? [];
    list.push(reply);
    this.replies.set(id, list);
    this.waiters.get(id)?.(reply);
    this.waiters.delete(id);
  }

  wait(id: string, timeoutMs = 15_000): Promise<Reply> {
    const first = this.replies.get(id)?.[0];
    if (first) return Promise.resolve(first);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`no reply to request ${id} within ${timeoutMs}ms`));
      }, timeoutMs);
      this.waiters.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
  }

  /** Ids with more or fewer than one reply. */
  notExactlyOnce(ids: readonly string[]): string[] {
    return ids.filter((id) => (this.replies.get(id)?.length ?? 0) !== 1);
  }
}

describe("fuzz: requests over NATS to a live worker", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let worker: TestWorker;
  let nc: NatsConnection;
  let canaryNc: NatsConnection;
  let direct: Redis;
  let raw: RawNatsClient;
  const book = new ReplyBook();
  const sentIds: string[] = [];
  const statuses: Record<string, number> = {};
  let nextId = 0;

  // The canary: an increment every 50 ms on its own connection, all through the fuzzing.
  const canary = { ok: 0, failed: [] as string[], running: true, last: 0 };
  let canaryDone: Promise<void>;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer({ jetstream: true }), redisServer()]);
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [redisComponent("cache", { redisHost: `${redis.host}:${redis.port}` })],
      env: {
        MAX_REQUEST_BYTES: String(MAX_REQUEST_BYTES),
        REQUEST_TIMEOUT: "5s",
        LOG_LEVEL: "info",
      },
    });
    nc = await callerConnection(nats.url, "fuzz-caller");
    canaryNc = await callerConnection(nats.url, "fuzz-canary");
    direct = new Redis({ host: redis.host, port: redis.port });
    nc.subscribe("fuzz.reply.>", {
      callback: (_error, msg) => book.add(msg.subject, fromMsg(msg)),
    });
    raw = await RawNatsClient.connect(nats.host, nats.port);
    raw.subscribe("fuzz.raw.>");
    raw.onMessage((message) => {
      const headers = parseHeaderBlock(message.header);
      const code = headers.get("Nats-Service-Error-Code");
      book.add(message.subject, {
        status: code ? Number(code) : 200,
        payload: message.payload,
        headers,
      });
    });
    await Promise.all([nc.flush(), raw.ping()]);

    canaryDone = (async () => {
      while (canary.running) {
        const started = Date.now();
        try {
          const msg = await canaryNc.request(
            SUBJECT,
            JSON.stringify({ operation: "increment", metadata: { key: "fuzz:canary" } }),
            { timeout: 10_000 },
          );
          const reply = fromMsg(msg);
          const value = (JSON.parse(reply.payload.toString() || "{}") as { data?: number }).data;
          if (reply.status !== 200 || value !== canary.last + 1) {
            canary.failed.push(`status ${reply.status}, value ${value} after ${canary.last}`);
          } else if (Date.now() - started > 5_000) {
            canary.failed.push(`took ${Date.now() - started}ms`);
          } else {
            canary.ok++;
          }
          canary.last = value ?? canary.last;
        } catch (error) {
          canary.failed.push((error as Error).message);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
  });

  afterAll(async () => {
    canary.running = false;
    await canaryDone;
    raw?.close();
    await nc?.close();
    await canaryNc?.close();
    direct?.disconnect();
    await worker?.stop();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  /** Publishes with a reply subject of its own and waits for the first reply. */
  const ask = async (payload: Uint8Array, headers: MsgHdrs | undefined): Promise<Reply> => {
    const id = `fuzz.reply.${nextId++}`;
    sentIds.push(id);
    nc.publish(SUBJECT, payload, { reply: id, ...(headers ? { headers } : {}) });
    const reply = await book.wait(id);
    statuses[String(reply.status)] = (statuses[String(reply.status)] ?? 0) + 1;
    return reply;
  };

  const askRaw = async (header: Uint8Array | undefined, payload: Uint8Array): Promise<Reply> => {
    const id = `fuzz.raw.${nextId++}`;
    sentIds.push(id);
    raw.publish(SUBJECT, id, header, payload);
    const reply = await book.wait(id);
    statuses[String(reply.status)] = (statuses[String(reply.status)] ?? 0) + 1;
    return reply;
  };

  const payloadArb: fc.Arbitrary<Uint8Array> = fc.oneof(
    { weight: 3, arbitrary: envelopeArb.map((e) => encoder.encode(JSON.stringify(e))) },
    {
      weight: 2,
      arbitrary: validRequestArb.map((r) => encoder.encode(JSON.stringify(validRequestBody(r)))),
    },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }) },
    { weight: 1, arbitrary: fc.jsonValue().map((v) => encoder.encode(JSON.stringify(v))) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.integer({ min: 1, max: 20_000 }),
          fc.constantFrom("array" as const, "mixed" as const),
        )
        .map(([depth, shape]) =>
          encoder.encode(
            `{"operation":"create","metadata":{"key":"deep"},"data":${deepJson(depth, shape)}}`,
          ),
        ),
    },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: MAX_REQUEST_BYTES - 10, max: MAX_REQUEST_BYTES + 5_000 })
        .map((size) => new Uint8Array(size).fill(0x20)),
    },
  );

  it("arbitrary payloads and headers: one PROTOCOL reply each, the canary unharmed", async () => {
    const numRuns = runs(150, 5_000);
    await fc.assert(
      fc.asyncProperty(payloadArb, headersArb, async (payload, spec) => {
        const headers = toMsgHdrs(spec);
        const reply = await ask(payload, headers);
        const status = checkReply(reply, wireModeOf(headers));
        if (payload.length > MAX_REQUEST_BYTES) expect(status).toBe(413);
        expect(status).not.toBe(500);
      }),
      params(numRuns),
    );
    tally("NATS path: arbitrary payloads + headers", numRuns);
  });

  it("hostile header blocks from a bare protocol client: one PROTOCOL reply each", async () => {
    const numRuns = runs(50, 2_000);
    const lineArb = fc.oneof(
      fc.constantFrom(
        "Content-Type: application/octet-stream",
        "operation: get",
        "operation: create",
        "metadata.key: k",
        "metadata.key:",
        "Binding-Timeout: soon",
        "Binding-Timeout: 1ms",
        "no colon here",
        ": empty name",
        "bad name: value",
        "naïve-name: value",
        "x\u0000y: nul in name",
        "Content-Type : application/octet-stream",
        "a:b:c",
      ),
      fc.string({ maxLength: 40, unit: "binary" }).map((line) => line.replace(/[\r\n]/g, "")),
    );
    const blockArb = fc.oneof(
      fc
        .tuple(
          fc.constantFrom(
            "NATS/1.0",
            "NATS/1.0 503",
            "NATS/1.0 100 Idle Heartbeat",
            "NATS/2.0",
            "HTTP/1.1 200 OK",
            "",
            "NATS/1.0 abc",
          ),
          fc.array(lineArb, { maxLength: 5 }),
        )
        .map(([status, lines]) => Buffer.from(`${[status, ...lines].join("\r\n")}\r\n\r\n`)),
      fc
        .uint8Array({ minLength: 1, maxLength: 64 })
        .map((bytes) =>
          Buffer.concat([Buffer.from("NATS/1.0\r\n"), Buffer.from(bytes), Buffer.from("\r\n\r\n")]),
        ),
    );
    const bodyArb = fc.oneof(
      fc.constant(encoder.encode('{"operation":"get","metadata":{"key":"k"}}')),
      fc.uint8Array({ maxLength: 64 }),
    );
    await fc.assert(
      fc.asyncProperty(blockArb, bodyArb, async (block, body) => {
        const reply = await askRaw(block, body);
        const mode = /content-type\s*:\s*application\/octet-stream/i.test(block.toString("latin1"))
          ? "raw"
          : "json";
        const status = checkReply(reply, mode);
        expect(status).not.toBe(500);
      }),
      params(numRuns),
    );
    tally("NATS path: hostile header blocks (bare client)", numRuns);
  });

  it("hostile header blocks on the durable subject: the intake survives them and keeps serving", async () => {
    const numRuns = runs(20, 300);
    const blockArb = fc
      .tuple(
        fc.constantFrom("bad name: x", "naïve: x", "x\u0000y: z", "no colon", ": empty", "a:b:c"),
        fc.constantFrom("Binding-Reply-To: fuzz.raw.durable", "Nats-Msg-Id: m", "metadata.key: k"),
        fc.boolean(),
      )
      .map(([bad, good, badFirst]) =>
        Buffer.from(`NATS/1.0\r\n${badFirst ? `${bad}\r\n${good}` : `${good}\r\n${bad}`}\r\n\r\n`),
      );
    await fc.assert(
      fc.asyncProperty(blockArb, async (block) => {
        raw.publish(
          "bindings.durable.cache",
          `fuzz.ack.${nextId++}`,
          block,
          encoder.encode('{"operation":"increment","metadata":{"key":"durable-fuzz"}}'),
        );
        await raw.ping();
      }),
      params(numRuns),
    );
    // Every one of them was stored; the worker took them all and is still there to answer.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const reply = await durableRequest(
      nc,
      "bindings.durable.cache",
      JSON.stringify({ operation: "get", metadata: { key: "durable-fuzz" } }),
      { timeoutMs: 20_000 },
    );
    expect(reply.headers?.get("Nats-Service-Error-Code") ?? "").toBe("");
    expect(worker.worker.status).toBe("running");
    tally("NATS path: hostile header blocks on the durable subject", numRuns);
  });

  it("well-formed requests with odd keys and values round-trip through Redis", async () => {
    const numRuns = runs(50, 2_000);
    let round = 0;
    await fc.assert(
      fc.asyncProperty(
        keyArb,
        fc.jsonValue({ maxDepth: 4 }),
        fc.boolean(),
        async (suffix, data, ttl) => {
          const key = `rt:${round++}:${suffix}`;
          const send = (body: unknown) => ask(encoder.encode(JSON.stringify(body)), undefined);
          const created = await send({
            operation: "create",
            metadata: ttl ? { key, ttlInSeconds: "600" } : { key },
            data,
          });
          expect(created.status).toBe(200);
          // A bare integer JSON cannot hold exactly (2^53 and beyond) comes back as a string.
          const text = JSON.stringify(data);
          const expected = (
            /^-?\d+$/.test(text) && !Number.isSafeInteger(Number(text))
              ? { data: text }
              : JSON.parse(JSON.stringify({ data }))
          ) as unknown;
          const got = await send({ operation: "get", metadata: { key } });
          expect(got.status).toBe(200);
          expect(JSON.parse(got.payload.toString())).toEqual(expected);
          const taken = await send({ operation: "get", metadata: { key, delete: true } });
          expect(taken.payload.toString()).toBe(got.payload.toString());
          const gone = await send({ operation: "get", metadata: { key } });
          expect(gone.status).toBe(200);
          expect(gone.payload.length).toBe(0);
          const counted = await send({ operation: "increment", metadata: { key } });
          expect(JSON.parse(counted.payload.toString())).toEqual({ data: 1 });
          // Redis holds the key under exactly the bytes the caller sent.
          expect(await direct.get(key)).toBe("1");
        },
      ),
      params(numRuns),
    );
    tally("NATS path: odd keys and values round-trip", numRuns * 5);
  });

  it("replies too large for NATS and errors quoting huge input are still answered", async () => {
    const cases: { name: string; send: () => Promise<Reply>; mode: "json" | "raw" }[] = [];
    // Values stored by someone else (another Dapr app, redis-cli): bigger than a reply may be.
    await direct.set("big:binary", randomBytes(800_000));
    await direct.set("big:text", "x".repeat(1_100_000));
    const rawGet = (key: string) => {
      const h = natsHeaders();
      h.set("Content-Type", "application/octet-stream");
      h.set("operation", "get");
      h.set("metadata.key", key);
      return ask(new Uint8Array(0), h);
    };
    const json = (body: unknown) => () => ask(encoder.encode(JSON.stringify(body)), undefined);
    cases.push(
      {
        name: "JSON get of 800 kB binary (base64 > 1 MiB)",
        send: json({ operation: "get", metadata: { key: "big:binary" } }),
        mode: "json",
      },
      {
        name: "JSON get of 1.1 MB text",
        send: json({ operation: "get", metadata: { key: "big:text" } }),
        mode: "json",
      },
      { name: "raw get of 1.1 MB text", send: () => rawGet("big:text"), mode: "raw" },
      {
        name: "operation of 40 000 control characters",
        send: json({ operation: "\u0001".repeat(40_000), metadata: { key: "k" } }),
        mode: "json",
      },
      {
        name: "ttl of 40 000 quotes",
        send: json({
          operation: "create",
          metadata: { key: "k", ttlInSeconds: '"'.repeat(40_000) },
          data: 1,
        }),
        mode: "json",
      },
      {
        name: "metadata name of 40 000 control characters",
        send: json({ operation: "get", metadata: { key: "k", ["\u0002".repeat(40_000)]: [1] } }),
        mode: "json",
      },
    );
    const failures: string[] = [];
    for (const c of cases) {
      try {
        const reply = await c.send();
        checkReply(reply, c.mode);
        expect(reply.status).not.toBe(200);
      } catch (error) {
        failures.push(`${c.name}: ${(error as Error).message.split("\n")[0]}`);
      }
    }
    expect(failures).toEqual([]);
    tally("NATS path: oversized replies and echoes", cases.length);
  });

  it("every request got exactly one reply, the canary never failed, nothing logged at error level", async () => {
    // Give any second reply time to arrive before counting.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await nc.flush();
    expect(book.notExactlyOnce(sentIds)).toEqual([]);
    console.log(
      `fuzz NATS path: ${sentIds.length} requests, replies by code ${JSON.stringify(statuses)}, canary ok ${canary.ok}`,
    );
    expect(canary.failed).toEqual([]);
    expect(canary.ok).toBeGreaterThan(0);
    // Only the replies too large for NATS are server-side failures (500, logged as errors).
    const errors = worker.logs.filter(
      (line) =>
        (line.level === "error" || line.level === "fatal") &&
        !/above the NATS max_payload/.test(String(line.cause)),
    );
    expect(errors).toEqual([]);
    expect(worker.worker.status).toBe("running");
  });
});
