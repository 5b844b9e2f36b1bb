import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchWorker, until, type WorkerHandle } from "../faults/support/stack.js";
import type { NatsServer } from "../harness/nats.js";
import { type RedisSentinelGroup, startRedisSentinel } from "../harness/redis-sentinel.js";
import { natsServer } from "../harness/servers.js";
import { request } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";
import { cli } from "./cli-process.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `failover: true`: the worker finds the master through three Sentinels and
 * follows it when the master crashes under steady traffic. Everything speaks
 * TLS only, so Sentinels and master must both be reached over TLS.
 */
describe("Redis Sentinel failover", () => {
  let nats: NatsServer;
  let group: RedisSentinelGroup;
  let worker: TestWorker;
  let nc: NatsConnection;
  const subject = "bindings.ha";

  beforeAll(async () => {
    [nats, group] = await Promise.all([
      natsServer(),
      startRedisSentinel({ downAfterMs: 1000, tls: true }),
    ]);
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [
        redisComponent("ha", {
          redisHost: group.sentinelHosts,
          failover: "true",
          sentinelMasterName: group.masterName,
          // Sentinels and data nodes alike speak TLS only.
          enableTLS: "true",
          caCert: await readFile(group.tls?.caFile as string, "utf8"),
        }),
      ],
    });
    nc = await connect({ servers: nats.url });
  });

  afterAll(async () => {
    await nc?.close();
    await worker?.stop();
    await Promise.all([nats?.close(), group?.close()]);
  });

  it("serves again within down-after + 10 s of a master crash, keeping every replicated write", async () => {
    interface Write {
      readonly key: string;
      readonly value: number;
    }
    const acknowledged: Write[] = [];
    const failures: { at: number; status: number }[] = [];
    let lastSuccessAt = 0;
    let running = true;

    const loop = async (lane: number) => {
      for (let n = 0; running; n++) {
        const key = `w:${lane}:${n}`;
        const reply = await request(
          nc,
          subject,
          { operation: "create", metadata: { key }, data: n },
          { timeoutMs: 15_000 },
        ).catch(() => ({ status: 0 }));
        if (reply.status === 200) {
          acknowledged.push({ key, value: n });
          lastSuccessAt = Date.now();
          await sleep(2);
        } else {
          failures.push({ at: Date.now(), status: reply.status });
          await sleep(50);
        }
      }
    };
    const lanes = Array.from({ length: 8 }, (_, lane) => loop(lane));

    await sleep(1000);
    // Every write acknowledged before the marker is ordered before it in the
    // replication stream: once WAIT sees the marker replicated, they are too.
    const replicated = acknowledged.slice();
    const master = new Redis({
      host: group.master.host,
      port: group.master.port,
      tls: { ca: await readFile(group.tls?.caFile as string, "utf8") },
    });
    try {
      await master.set("marker", "1");
      expect(await master.call("WAIT", "1", "5000")).toBe(1);
    } finally {
      master.disconnect();
    }
    expect(replicated.length).toBeGreaterThan(100);
    expect(failures).toEqual([]);

    await group.crashMaster();
    const crashedAt = Date.now();
    const budgetMs = group.downAfterMs + 10_000;
    // Traffic runs until it has gone 2 s without a failure (or well past the budget).
    await waitFor(() => {
      const last = failures.at(-1)?.at ?? crashedAt;
      return lastSuccessAt > last && Date.now() - last > 2_000;
    }, budgetMs + 10_000);
    running = false;
    await Promise.all(lanes);

    expect(await group.masterPort()).toBe(group.replica.port);
    const lastFailure = failures.at(-1)?.at ?? crashedAt;
    expect(lastFailure - crashedAt).toBeLessThan(budgetMs);
    // Unavailable, never a crash or a misleading error.
    expect(failures.filter(({ status }) => status !== 503 && status !== 504)).toEqual([]);

    // Every write replicated before the crash is on the new master.
    for (let start = 0; start < replicated.length; start += 250) {
      const batch = replicated.slice(start, start + 250);
      const replies = await Promise.all(
        batch.map(({ key }) => request(nc, subject, { operation: "get", metadata: { key } })),
      );
      replies.forEach((reply, index) => {
        expect(reply.json, batch[index]?.key).toEqual({ data: batch[index]?.value });
      });
    }
    expect(worker.worker.readiness().ready).toBe(true);
  });
});

/**
 * Sentinels that require authentication (an ACL user, `sentinelUsername` /
 * `sentinelPassword`) in front of a master and replica that require another
 * password (`redisPassword`). Workers run as processes from the build with
 * debug logs and spans on stdout, and everything they print is searched for
 * both passwords.
 */
describe("Redis Sentinel with authentication", () => {
  const SENTINEL_USERNAME = "binding-worker";
  const SENTINEL_PASSWORD = `sentinel-pw-${randomBytes(12).toString("hex")}`;
  const DATA_PASSWORD = `data-pw-${randomBytes(12).toString("hex")}`;
  let nats: NatsServer;
  let group: RedisSentinelGroup;
  let nc: NatsConnection;
  const workers: WorkerHandle[] = [];
  /** Components of the worker that served, for `validate`. */
  let servingDir: string | undefined;
  /** Replies, readyz bodies and CLI output, searched for the passwords at the end with the workers' output. */
  const seen: string[] = [];

  beforeAll(async () => {
    [nats, group] = await Promise.all([
      natsServer(),
      startRedisSentinel({
        downAfterMs: 1000,
        sentinelAuth: { username: SENTINEL_USERNAME, password: SENTINEL_PASSWORD },
        dataPassword: DATA_PASSWORD,
      }),
    ]);
    nc = await connect({ servers: nats.url });
  });

  afterAll(async () => {
    await nc?.close();
    await Promise.allSettled(workers.map((worker) => worker.dispose()));
    await Promise.all([nats?.close(), group?.close()]);
  });

  /** A worker process serving one Sentinel binding with the given credentials. */
  const launch = async (binding: string, credentials: Record<string, string>, serving: boolean) => {
    const worker = await launchWorker({
      natsUrl: nats.url,
      binding,
      redisHost: group.sentinelHosts,
      metadata: {
        failover: "true",
        sentinelMasterName: group.masterName,
        redisPassword: DATA_PASSWORD,
        ...credentials,
      },
      env: { LOG_LEVEL: "debug", OTEL_TRACES_EXPORTER: "console" },
      waitServing: false,
    });
    workers.push(worker);
    // Within the test's time, and failing with the worker's output.
    if (serving) await worker.proc.waitForLog((line) => line.msg === "binding serving", 15_000);
    return worker;
  };

  // Worker processes start, fail over and stop: room for a loaded machine.
  it("does not serve with a wrong or missing sentinelPassword, or without sentinelUsername", async () => {
    const cases = {
      "wrong-password": {
        sentinelUsername: SENTINEL_USERNAME,
        sentinelPassword: `${SENTINEL_PASSWORD}-not`,
      },
      "no-password": { sentinelUsername: SENTINEL_USERNAME },
      // The right password for the default user, which has another one.
      "no-username": { sentinelPassword: SENTINEL_PASSWORD },
    };
    await Promise.all(
      Object.entries(cases).map(async ([binding, credentials]) => {
        const worker = await launch(binding, credentials, false);
        const failed = await worker.proc.waitForLog(
          (line) => line.msg === "redis authentication failed",
          15_000,
        );
        // An error naming the Sentinels' refusal, not a generic connection warning.
        expect(failed, binding).toMatchObject({ level: "error", binding, sentinel: true });
        expect(failed.reason, binding).toMatch(/^(WRONGPASS|NOAUTH)/);
        // Several rounds of every Sentinel refusing (ioredis retries within a second)...
        await new Promise((resolve) => setTimeout(resolve, 2500));
        await until(async () => (await worker.readyz()).status === 503, "readyz", 10_000);
        const readyz = await worker.readyz();
        expect(readyz.status, binding).toBe(503);
        expect(readyz.body, binding).toMatchObject({
          ready: false,
          checks: { redis: { [binding]: false }, subscriptions: { [binding]: false } },
        });
        // ...never subscribed: callers get no responders, not a worker that can only fail.
        await expect(
          request(nc, `bindings.${binding}`, { operation: "get", metadata: { key: "k" } }),
          binding,
        ).rejects.toThrow(/no responders|503/i);
        // ...and logged once (at most every 30 s), not once per Sentinel and round.
        const lines = worker.proc.logs.filter(
          (line) =>
            line.msg === "redis authentication failed" || line.msg === "redis connection error",
        );
        expect(lines, binding).toHaveLength(1);
        expect(
          worker.proc.logs.some((line) => line.msg === "binding serving"),
          binding,
        ).toBe(false);

        seen.push(JSON.stringify(readyz.body));
        expect(await stopWithin(worker, 5_000), binding).toBe(0);
      }),
    );
  }, 60_000);

  it("serves create/get/increment through authenticated Sentinels, and again after a failover", async () => {
    const worker = await launch(
      "ha-auth",
      { sentinelUsername: SENTINEL_USERNAME, sentinelPassword: SENTINEL_PASSWORD },
      true,
    );
    servingDir = worker.dir;
    const subject = "bindings.ha-auth";
    const call = async (body: unknown) => {
      const reply = await request(nc, subject, body, { timeoutMs: 10_000 });
      seen.push(reply.text, reply.msg.headers?.get("Nats-Service-Error") ?? "");
      return reply;
    };
    expect((await worker.readyz()).status).toBe(200);
    expect(
      (await call({ operation: "create", metadata: { key: "before" }, data: { n: 1 } })).status,
    ).toBe(200);
    expect((await call({ operation: "get", metadata: { key: "before" } })).json).toEqual({
      data: { n: 1 },
    });
    expect((await call({ operation: "increment", metadata: { key: "count" } })).json).toEqual({
      data: 1,
    });
    // Both writes are on the replica before the master goes.
    expect(await group.master.cli("WAIT", "1", "5000")).toBe("1");

    await group.crashMaster();
    const crashedAt = Date.now();
    // The Sentinels (authenticating to one another and to the replica) promote it, and the
    // worker (authenticating to them) follows.
    await until(
      async () =>
        (await call({ operation: "increment", metadata: { key: "count" } })).status === 200,
      "a write on the new master",
      group.downAfterMs + 15_000,
      200,
    );
    expect(Date.now() - crashedAt).toBeLessThan(group.downAfterMs + 15_000);
    expect(await group.masterPort()).toBe(group.replica.port);
    expect((await call({ operation: "get", metadata: { key: "before" } })).json).toEqual({
      data: { n: 1 },
    });
    expect((await call({ operation: "get", metadata: { key: "count" } })).json).toEqual({
      data: 2,
    });
    await until(async () => (await worker.readyz()).status === 200, "readyz after the failover");

    // It exits once stopped: nothing, not even ioredis's subscriptions to the Sentinels (which
    // only disconnect() ends, not QUIT) keeps it alive; it used to linger until killed.
    expect(await stopWithin(worker, 5_000)).toBe(0);
    const output = worker.proc.output();
    // Not vacuous: debug logs and spans of the calls are in there.
    expect(output).toContain("binding serving");
    expect(output).toContain("process bindings.ha-auth");
  }, 60_000);

  it("validate prints the Sentinel settings with the passwords masked", async () => {
    const validated = await cli(["validate", servingDir as string]);
    seen.push(validated.out, validated.stderr);
    expect(validated.code).toBe(0);
    expect(validated.out).toContain(SENTINEL_USERNAME);
    expect(validated.out).toContain('"sentinelPassword": "****"');
    expect(validated.out).toContain('"redisPassword": "****"');
  });

  it("no password appears in anything the workers and the CLI printed or answered", () => {
    // Every worker's whole output (logs and spans), whatever became of its test.
    const everything = [...seen, ...workers.map((worker) => worker.proc.output())].join("\n");
    expect(everything.length).toBeGreaterThan(5_000);
    for (const [name, value] of Object.entries({ SENTINEL_PASSWORD, DATA_PASSWORD })) {
      expect(everything.includes(value), `${name} leaked`).toBe(false);
    }
  });
});

/** SIGTERM, then the exit code, or "still running" after `timeoutMs`. */
function stopWithin(worker: WorkerHandle, timeoutMs: number): Promise<number | null | string> {
  return Promise.race([
    worker.stop("SIGTERM"),
    sleep(timeoutMs).then(() => `still running ${timeoutMs} ms after SIGTERM`),
  ]);
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await sleep(100);
}
