import { randomBytes } from "node:crypto";
import { connect, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { durableRequest } from "../../src/transport/durable/request.js";
import { launchWorker, sleep, type WorkerHandle } from "../faults/support/stack.js";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { request } from "../support/requests.js";
import { redisComponent } from "../support/worker.js";
import { accountsConfig, corePermissions, durablePermissions } from "./support/permissions.js";

const PASSWORD = `pw-${randomBytes(12).toString("hex")}`;

/**
 * The trust model of README "Security / trust model", enforced by nats-server
 * exactly as the README configures it. Two bindings share one Redis server in
 * different databases: `cache` (db 0) and `orders` (db 1), so a write that
 * lands in db 1 proves the orders binding ran it.
 */
interface Stack {
  nats: NatsServer;
  worker: WorkerHandle;
  connect(user: string, inboxPrefix?: string): Promise<NatsConnection>;
}

let redis: RedisServer;
let db0: Redis;
let db1: Redis;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  redis = await redisServer();
  db0 = new Redis({ host: redis.host, port: redis.port, db: 0 });
  db1 = new Redis({ host: redis.host, port: redis.port, db: 1 });
});

afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  db0?.disconnect();
  db1?.disconnect();
  await redis?.close();
});

async function stack(
  config: string,
  env: Record<string, string>,
  jetstream = false,
): Promise<Stack> {
  const nats = await natsServer({ config, jetstream });
  cleanup.push(() => nats.close());
  const redisHost = `${redis.host}:${redis.port}`;
  const worker = await launchWorker({
    natsUrl: nats.url,
    componentText: redisComponent("cache", { redisHost }),
    extraFiles: { "orders.yaml": redisComponent("orders", { redisHost, redisDB: "1" }) },
    env: { NATS_USER: "worker", NATS_PASSWORD: PASSWORD, ...env },
  });
  cleanup.push(() => worker.dispose());
  await worker.proc.waitForLog(
    (line) => line.msg === "binding serving" && line.binding === "orders",
  );
  return {
    nats,
    worker,
    async connect(user, inboxPrefix = `_INBOX_${user}`) {
      const nc = await connect({ servers: nats.url, user, pass: PASSWORD, inboxPrefix });
      cleanup.push(() => nc.close());
      return nc;
    },
  };
}

/** Requests that must not reach a worker: refused by the server or never answered. */
async function denied(nc: NatsConnection, subject: string, key: string): Promise<string> {
  const outcome = await request(
    nc,
    subject,
    { operation: "increment", metadata: { key } },
    { timeoutMs: 1500 },
  ).then(
    (reply) => `answered ${reply.status}`,
    (error: Error) => `${error.name}: ${error.message}`,
  );
  expect(outcome).not.toMatch(/^answered/);
  expect(await db0.exists(key)).toBe(0);
  expect(await db1.exists(key)).toBe(0);
  return outcome;
}

/**
 * The reply-subject attack: store a ready-made request in a binding the
 * caller may use, then read it back in raw mode naming another binding (or a
 * JetStream API) as the reply subject. The worker would publish the stored
 * bytes there with its own rights.
 */
async function replySubjectAttack(nc: NatsConnection, key: string, replyTo: string) {
  const raw = (operation: string) => {
    const h = natsHeaders();
    h.set("Content-Type", "application/octet-stream");
    h.set("operation", operation);
    h.set("metadata.key", `attack-${key}`);
    return h;
  };
  const injected = JSON.stringify({ operation: "create", metadata: { key }, data: "injected" });
  const stored = await nc.request("bindings.cache", injected, {
    headers: raw("create"),
    timeout: 5000,
  });
  expect(stored.headers?.get("Nats-Service-Error-Code") ?? "").toBe("");
  nc.publish("bindings.cache", new Uint8Array(0), { headers: raw("get"), reply: replyTo });
  await nc.flush();
  await sleep(1000);
  expect(await db1.exists(key), `a request injected through reply subject ${replyTo} ran`).toBe(0);
}

async function statsOf(nc: NatsConnection): Promise<Record<string, number>> {
  const reply = await nc.request("$SRV.STATS.redis-binding", "", { timeout: 5000 });
  const stats = reply.json<{ endpoints: { name: string; num_requests: number }[] }>();
  return Object.fromEntries(stats.endpoints.map((e) => [e.name, e.num_requests]));
}

describe("security: users with permissions (core request-reply)", () => {
  let s: Stack;

  beforeAll(async () => {
    s = await stack(corePermissions(PASSWORD), { BINDINGS_DURABLE: "false" });
  });

  it("callers reach their own bindings through a worker with the documented permissions", async () => {
    const billing = await s.connect("billing");
    const shop = await s.connect("shop");
    expect(
      (await request(billing, "bindings.cache", { operation: "increment", metadata: { key: "b" } }))
        .status,
    ).toBe(200);
    expect(
      (await request(shop, "bindings.orders", { operation: "increment", metadata: { key: "s" } }))
        .status,
    ).toBe(200);
    expect(await db1.get("s")).toBe("1");
    // Errors are replies too.
    expect((await request(billing, "bindings.cache", { operation: "nope" })).status).toBe(400);
    // Discovery answers operators.
    const ping = await (await s.connect("ops")).request("$SRV.PING.redis-binding", "", {
      timeout: 5000,
    });
    expect(ping.json<{ name: string }>().name).toBe("redis-binding");
  });

  it("a caller without permission for a binding gets no reply from the worker", async () => {
    const ops = await s.connect("ops");
    const before = await statsOf(ops);
    const outcomes = [
      await denied(await s.connect("billing"), "bindings.orders", "billing-on-orders"),
      await denied(await s.connect("shop"), "bindings.cache", "shop-on-cache"),
    ];
    expect(outcomes.every((o) => /Permissions Violation for Publish/.test(o))).toBe(true);
    await sleep(300);
    // The worker never saw them.
    expect(await statsOf(ops)).toEqual(before);
  });

  it("a caller can neither read another caller's replies nor pose as a worker", async () => {
    const billing = await s.connect("billing");
    const refused: string[] = [];
    for (const subject of ["_INBOX_shop.>", "_INBOX.>", "bindings.cache", "bindings.>", "$SRV.>"]) {
      const sub = billing.subscribe(subject, {
        callback: (error) => {
          if (error) refused.push(subject);
        },
      });
      await billing.flush();
      await sleep(200);
      expect(sub.isClosed(), subject).toBe(true);
    }
    expect(refused).toHaveLength(5);
    // A caller that kept the default inbox prefix cannot even receive its own replies
    // (the request itself may still run: publishing to bindings.cache is allowed).
    const careless = await s.connect("billing", "_INBOX");
    const outcome = await request(
      careless,
      "bindings.cache",
      { operation: "get", metadata: { key: "careless-caller" } },
      { timeoutMs: 1500 },
    ).then(
      (reply) => `answered ${reply.status}`,
      (error: Error) => `${error.name}: ${error.message}`,
    );
    expect(outcome).not.toMatch(/^answered/);
  });

  it("a reply subject naming another binding or a $ API makes the worker do nothing", async () => {
    const billing = await s.connect("billing");
    for (const [key, replyTo] of [
      ["via-orders", "bindings.orders"],
      ["via-durable", "bindings.durable.orders"],
      ["via-js-api", "$JS.API.STREAM.DELETE.rbw-durable-bindings"],
    ] as const) {
      await replySubjectAttack(billing, key, replyTo);
    }
    const refusals = s.worker.proc.logs.filter((line) =>
      /reply subject is a worker/.test(String(line.msg)),
    );
    expect(refusals.map((line) => line.reply)).toEqual([
      "bindings.orders",
      "bindings.durable.orders",
      "$JS.API.STREAM.DELETE.rbw-durable-bindings",
    ]);
  });

  it("the worker's own permissions raised no violation", () => {
    expect(s.worker.proc.output()).not.toMatch(/permissions violation/i);
    expect(s.worker.proc.logs.filter((line) => line.level === "error")).toEqual([]);
  });
});

describe("security: users with permissions (durable intake over JetStream)", () => {
  let s: Stack;

  beforeAll(async () => {
    s = await stack(durablePermissions(PASSWORD), {}, true);
  });

  it("the worker runs its durable intake within the documented permissions", async () => {
    await s.worker.proc.waitForLog((line) => /durable intake/.test(String(line.msg)), 15_000);
    const billing = await s.connect("billing");
    const reply = await durableRequest(
      billing,
      "bindings.durable.cache",
      JSON.stringify({ operation: "increment", metadata: { key: "durable-b" } }),
      { inboxPrefix: "_INBOX_billing", timeoutMs: 15_000 },
    );
    expect(reply.headers?.get("Nats-Service-Error-Code") ?? "").toBe("");
    expect(reply.json()).toEqual({ data: 1 });
    expect(
      (
        await request(billing, "bindings.cache", {
          operation: "get",
          metadata: { key: "durable-b" },
        })
      ).json,
    ).toEqual({ data: 1 });
    // Not the other caller's binding, durable or not.
    await expect(
      durableRequest(
        billing,
        "bindings.durable.orders",
        JSON.stringify({ operation: "increment", metadata: { key: "durable-x" } }),
        { inboxPrefix: "_INBOX_billing", timeoutMs: 3000 },
      ),
    ).rejects.toThrow();
    expect(await db1.exists("durable-x")).toBe(0);
  });

  it("a Binding-Reply-To naming a $ API is not answered", async () => {
    const billing = await s.connect("billing");
    const h = natsHeaders();
    h.set("Binding-Reply-To", "$JS.API.STREAM.PURGE.rbw-durable-bindings");
    const js = await import("@nats-io/jetstream").then((m) => m.jetstream(billing));
    await js.publish(
      "bindings.durable.cache",
      JSON.stringify({ operation: "get", metadata: { key: "durable-b" } }),
      { headers: h },
    );
    await sleep(1500);
    // The stream still holds what it held, and the key is untouched.
    expect(await db0.get("durable-b")).toBe("1");
    expect(
      s.worker.proc.logs.some((line) =>
        /reply subject that cannot be published/.test(String(line.msg)),
      ),
    ).toBe(true);
  });

  it("the worker's own permissions raised no violation", () => {
    expect(s.worker.proc.output()).not.toMatch(/permissions violation/i);
    expect(s.worker.proc.logs.filter((line) => line.level === "error")).toEqual([]);
  });
});

describe("security: accounts (workers export their bindings as services)", () => {
  let s: Stack;

  beforeAll(async () => {
    s = await stack(accountsConfig(PASSWORD), { BINDINGS_DURABLE: "false" });
  });

  it("callers reach exactly the bindings their account imports", async () => {
    const billing = await s.connect("billing", "_INBOX");
    const shop = await s.connect("shop", "_INBOX");
    expect(
      (
        await request(billing, "bindings.cache", {
          operation: "increment",
          metadata: { key: "acc-b" },
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await request(shop, "bindings.orders", {
          operation: "increment",
          metadata: { key: "acc-s" },
        })
      ).status,
    ).toBe(200);
    // Not imported: nobody in the caller's account answers.
    expect(await denied(billing, "bindings.orders", "acc-billing-orders")).toMatch(
      /no responders/i,
    );
    expect(await denied(shop, "bindings.cache", "acc-shop-cache")).toMatch(/no responders/i);
  });

  it("reply subjects are rewritten across accounts, so the attack cannot even be aimed", async () => {
    const billing = await s.connect("billing", "_INBOX");
    await replySubjectAttack(billing, "acc-via-orders", "bindings.orders");
    // The worker saw an ordinary reply subject (_R_...), not the one the caller wrote.
    expect(
      s.worker.proc.logs.some((line) => /reply subject is a worker/.test(String(line.msg))),
    ).toBe(false);
  });
});
