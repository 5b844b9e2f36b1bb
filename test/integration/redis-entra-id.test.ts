import { readFile } from "node:fs/promises";
import type { AccessToken } from "@azure/identity";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { REDIS_SCOPE } from "../../src/redis/entra-id.js";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { RotatingCredential } from "../support/fake-entra-credential.js";
import { request } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/**
 * `useEntraID` against a real Redis whose ACL user's password rotates with the
 * tokens. The default user has a password, as on Azure: only the token's user
 * gets in.
 */
describe("Entra ID authentication", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  let ca: string;
  const workers: TestWorker[] = [];
  const credentials: RotatingCredential[] = [];

  beforeAll(async () => {
    [nats, redis] = await Promise.all([
      natsServer(),
      redisServer({ tls: true, password: "admin-only" }),
    ]);
    ca = await readFile(redis.tls?.caFile as string, "utf8");
    nc = await connect({ servers: nats.url });
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop()));
    for (const credential of credentials.splice(0)) credential.dispose();
  });

  afterAll(async () => {
    await nc?.close();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  async function start(
    name: string,
    credential: RotatingCredential,
    extra: Record<string, string> = {},
    waitUntilServing = true,
  ) {
    credentials.push(credential);
    const worker = await startTestWorker({
      natsUrl: nats.url,
      components: [
        redisComponent(name, {
          redisHost: `${redis.host}:${redis.port}`,
          enableTLS: "true",
          caCert: ca,
          useEntraID: "true",
          ...extra,
        }),
      ],
      redis: { tokenCredential: () => credential },
      waitUntilServing,
    });
    workers.push(worker);
    return worker;
  }

  const stat = async (section: string, name: string) =>
    (await redis.cli("INFO", section)).split(/\r?\n/).find((line) => line.startsWith(`${name}:`));

  it("rotates tokens on every pooled connection with no failed request, across a forced reconnect", async () => {
    const credential = new RotatingCredential([redis], "3f1c1f9e-oid-rotation", 3000);
    await redis.cli("CONFIG", "RESETSTAT");
    await start("entra", credential, { poolSize: "2", redisMaxRetries: "5" });
    expect(credential.scopes).toEqual([REDIS_SCOPE]);
    const users = (await redis.cli("CLIENT", "LIST"))
      .split("\n")
      .filter((line) => line.includes("name=redis-binding-worker:entra "));
    expect(users).toHaveLength(2);
    for (const line of users) expect(line).toContain(` user=${credential.oid} `);

    const failures: string[] = [];
    let served = 0;
    let running = true;
    const lane = async (id: number) => {
      for (let n = 0; running; n++) {
        const key = `entra:${id}:${n % 50}`;
        const body =
          n % 2 === 0
            ? { operation: "create", metadata: { key }, data: n }
            : { operation: "get", metadata: { key } };
        const reply = await request(nc, "bindings.entra", body, { timeoutMs: 10_000 }).catch(
          (error: Error) => ({ status: 0, text: error.message }),
        );
        if (reply.status === 200) served++;
        else failures.push(`${reply.status} ${reply.text}`);
        await sleep(5);
      }
    };
    const lanes = Array.from({ length: 6 }, (_, id) => lane(id));

    // Two rotations, then wait until only the newest token is still accepted
    // and force every connection to reconnect: they must use that token.
    await until(() => credential.issued.length >= 3, 15_000, "the second rotation");
    const previous = credential.issued[1] as AccessToken;
    await sleep(Math.max(0, previous.expiresOnTimestamp - Date.now()) + 200);
    expect(await redis.cli("CLIENT", "KILL", "USER", credential.oid)).not.toBe("0");
    await until(() => credential.issued.length >= 4, 15_000, "the third rotation");
    await sleep(1000);
    running = false;
    await Promise.all(lanes);

    expect(failures).toEqual([]);
    expect(served).toBeGreaterThan(200);
    // Each rotation re-authenticated both connections (with AUTH; a new
    // connection authenticates in its HELLO), and no password was refused.
    const auth = await stat("commandstats", "cmdstat_auth");
    expect(Number(/calls=(\d+)/.exec(auth ?? "")?.[1] ?? 0)).toBeGreaterThanOrEqual(3 * 2);
    expect(auth).toMatch(/failed_calls=0/);
    expect(await stat("errorstats", "errorstat_WRONGPASS")).toBeUndefined();
    expect(workers[0]?.worker.readiness().ready).toBe(true);
  });

  it("turns not ready once renewals keep failing past expiry, and recovers", async () => {
    const credential = new RotatingCredential([redis], "oid-renewal-fails", 2000);
    const worker = await start("renewal", credential);
    credential.failing = true;
    await until(() => !worker.worker.readiness().ready, 10_000, "readiness to turn false");
    expect(worker.worker.readiness().checks.redis).toEqual({ renewal: false });
    const expiredMessage =
      "Entra ID token expired and could not be renewed; the binding is not ready";
    await until(
      () => worker.logs.some((line) => line.msg === expiredMessage),
      10_000,
      "the expiry to be logged",
    );
    const expired = worker.logs.find((line) => line.msg === expiredMessage);
    expect(expired).toMatchObject({ binding: "renewal", level: "error" });
    expect(String(expired?.cause)).toMatch(/identity endpoint is unreachable/);

    credential.failing = false;
    await until(() => worker.worker.readiness().ready, 20_000, "readiness to come back");
    expect(worker.logs.some((line) => line.msg === "Entra ID token renewed after failures")).toBe(
      true,
    );
    const reply = await request(nc, "bindings.renewal", {
      operation: "increment",
      metadata: { key: "renewed" },
    });
    expect(reply.json).toEqual({ data: 1 });
  });

  it("without a first token, says so, does not subscribe, and starts once one comes", async () => {
    const credential = new RotatingCredential([redis], "oid-late", 60_000);
    credential.failing = true;
    const worker = await start("late", credential, {}, false);
    await until(
      () =>
        worker.logs.some(
          (line) => line.msg === "Entra ID token could not be obtained; the binding waits for one",
        ),
      10_000,
      "the start-up error",
    );
    const line = worker.logs.find((entry) => String(entry.msg).startsWith("Entra ID token could"));
    expect(line).toMatchObject({ binding: "late", level: "error" });
    expect(worker.worker.readiness().ready).toBe(false);
    await expect(
      request(
        nc,
        "bindings.late",
        { operation: "get", metadata: { key: "k" } },
        { timeoutMs: 500 },
      ),
    ).rejects.toThrow(/no responders/i);

    credential.failing = false;
    await worker.worker.whenServing();
    const reply = await request(nc, "bindings.late", {
      operation: "create",
      metadata: { key: "late" },
      data: "ok",
    });
    expect(reply.status).toBe(200);
  });
});

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
