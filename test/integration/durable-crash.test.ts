import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import {
  connect,
  createInbox,
  type NatsConnection,
  headers as natsHeaders,
} from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DEAD_LETTER_HEADERS } from "../../src/transport/durable/dead-letter.js";
import { durableRequest } from "../../src/transport/durable/request.js";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { readReply } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";
import { spawnWorker, type WorkerProcess } from "../support/worker-process.js";

/**
 * Workers that die mid-request, as processes killed with SIGKILL: the
 * durable intake must deliver their requests again, apply each once, and
 * answer every caller. processingTimeout is 2 s throughout.
 */
describe("durable requests survive a worker's death", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let direct: Redis;
  let dir: string;
  const processes: WorkerProcess[] = [];
  const inProcess: TestWorker[] = [];
  const STREAM = "rbw-durable-bindings";
  const PROCESSING_TIMEOUT_MS = 2_000;
  const component = () =>
    redisComponent("cache", {
      redisHost: `${redis.host}:${redis.port}`,
      processingTimeout: `${PROCESSING_TIMEOUT_MS}ms`,
      redeliverInterval: "1s",
    });
  /** Redelivery off: one delivery per request. */
  const onceComponent = () =>
    redisComponent("once", {
      redisHost: `${redis.host}:${redis.port}`,
      processingTimeout: `${PROCESSING_TIMEOUT_MS}ms`,
      redeliverInterval: "0",
    });

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer({ jetstream: true }), redisServer()]);
    nc = await connect({ servers: nats.url });
    direct = new Redis({ host: redis.host, port: redis.port });
    dir = await mkdtemp(join(tmpdir(), "rbw-durable-crash-"));
    await writeFile(join(dir, "cache.yaml"), component());
    await writeFile(join(dir, "once.yaml"), onceComponent());
    jsm = await jetstreamManager(nc);
  });

  afterEach(async () => {
    for (const worker of processes.splice(0)) worker.kill("SIGKILL");
    await Promise.all(inProcess.splice(0).map((worker) => worker.stop()));
  });

  afterAll(async () => {
    direct?.disconnect();
    await nc?.close();
    await Promise.all([nats?.close(), redis?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function spawnProcess(env: Record<string, string> = {}): WorkerProcess {
    const worker = spawnWorker({ NATS_URL: nats.url, COMPONENTS_PATH: dir, ...env });
    processes.push(worker);
    return worker;
  }

  async function startInProcess(): Promise<TestWorker> {
    const worker = await startTestWorker({
      natsUrl: nats.url,
      components: [component(), onceComponent()],
    });
    inProcess.push(worker);
    return worker;
  }

  /** Every binding of the process pulls. */
  const pulling = async (worker: WorkerProcess) => {
    const deadline = Date.now() + 15_000;
    while (worker.logs.filter((line) => line.msg === "durable intake pulling").length < 2) {
      if (Date.now() > deadline) throw new Error(`worker not pulling:\n${worker.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const increment = (key: string) => JSON.stringify({ operation: "increment", metadata: { key } });

  it("hands a request held by a killed worker to another one after about processingTimeout, counted once", async () => {
    const a = spawnProcess();
    await pulling(a);
    // Hold Redis so A is mid-request when it dies.
    await direct.call("CLIENT", "PAUSE", "1000", "WRITE");
    const reply = durableRequest(nc, "bindings.durable.cache", increment("held"), {
      msgId: "held-1",
      timeoutMs: 20_000,
    });
    await expect
      .poll(async () => (await jsm.consumers.info(STREAM, "cache")).num_ack_pending, {
        timeout: 5_000,
        interval: 20,
      })
      .toBe(1);
    a.kill("SIGKILL");
    const killedAt = Date.now();
    await a.exited();
    const b = await startInProcess();
    const answer = readReply(await reply);
    const after = Date.now() - killedAt;
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ data: 1 });
    expect(await direct.get("held")).toBe("1");
    // A kept the message alive with progress acks until it died; B got it
    // once the ack wait ran out after A's last one.
    expect(after).toBeGreaterThan(PROCESSING_TIMEOUT_MS / 2);
    expect(after).toBeLessThan(PROCESSING_TIMEOUT_MS + 2_500);
    expect(b.logs.some((line) => line.msg === "durable intake pulling")).toBe(true);
    console.log(
      `durable: processingTimeout ${PROCESSING_TIMEOUT_MS}ms; answered by the second worker ${after}ms after the first was killed`,
    );
  });

  it("replays the recorded reply when a worker dies after Redis applied the increment", async () => {
    const a = spawnProcess({ RBW_TEST_CRASH_AFTER_APPLY: "1" });
    await pulling(a);
    const inbox = createInbox();
    const replies: string[] = [];
    const sub = nc.subscribe(inbox, {
      callback: (_error, msg) => {
        replies.push(msg.string());
      },
    });
    const headers = natsHeaders();
    headers.set("Binding-Reply-To", inbox);
    await jetstream(nc).publish("bindings.durable.cache", increment("applied"), {
      msgID: "applied-1",
      headers,
    });
    await a.exited();
    const diedAt = Date.now();
    // A died after the effect: the counter moved, nobody was answered.
    expect(await direct.get("applied")).toBe("1");
    expect(replies).toEqual([]);
    const b = await startInProcess();
    await expect.poll(() => replies.length, { timeout: 10_000 }).toBe(1);
    const after = Date.now() - diedAt;
    expect(JSON.parse(replies[0] ?? "")).toEqual({ data: 1 });
    expect(await direct.get("applied")).toBe("1");
    expect(
      b.logs.some(
        (line) => line.msg === "durable request was applied by an earlier delivery; replayed",
      ),
    ).toBe(true);
    expect(after).toBeLessThan(PROCESSING_TIMEOUT_MS + 2_500);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(replies).toHaveLength(1);
    sub.unsubscribe();
    console.log(
      `durable: processingTimeout ${PROCESSING_TIMEOUT_MS}ms; replayed reply ${after}ms after the crash`,
    );
  });

  it("answers 504 and dead-letters a request whose only delivery died with its worker", async () => {
    const a = spawnProcess({ RBW_TEST_CRASH_AFTER_APPLY: "1" });
    await pulling(a);
    const letters: string[] = [];
    const dead = nc.subscribe("bindings.deadletter.once", {
      callback: (_error, msg) => {
        letters.push(
          `${msg.headers?.get(DEAD_LETTER_HEADERS.errorCode)}|${msg.headers?.get(DEAD_LETTER_HEADERS.deliveries)}|${msg.string()}`,
        );
      },
    });
    await nc.flush();
    const reply = durableRequest(nc, "bindings.durable.once", increment("lonely"), {
      msgId: "lonely-1",
      timeoutMs: 15_000,
    });
    await a.exited();
    const diedAt = Date.now();
    await startInProcess();
    const answer = readReply(await reply);
    const after = Date.now() - diedAt;
    expect(answer.status).toBe(504);
    expect(answer.json).toMatchObject({
      errorCode: "ERR_BINDING_TIMEOUT",
      message: expect.stringMatching(/may or may not have been applied/),
    });
    await expect.poll(() => letters, { timeout: 5_000 }).toEqual([`504|1|${increment("lonely")}`]);
    // Not delivered again, and gone from the stream.
    expect(await direct.get("lonely")).toBe("1");
    await expect
      .poll(async () => (await jsm.streams.info(STREAM)).state.messages, { timeout: 5_000 })
      .toBe(0);
    expect(after).toBeLessThan(PROCESSING_TIMEOUT_MS + 2_500);
    dead.unsubscribe();
    console.log(
      `durable: processingTimeout ${PROCESSING_TIMEOUT_MS}ms, no redelivery; abandoned request answered 504 ${after}ms after the crash`,
    );
  });

  it("a worker stopped with SIGTERM finishes the durable requests it holds before it exits", async () => {
    const a = spawnProcess();
    await startInProcess();
    await pulling(a);
    const before = await jsm.consumers.info(STREAM, "cache");
    await direct.call("CLIENT", "PAUSE", "1000", "WRITE");
    const replies = Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        durableRequest(nc, "bindings.durable.cache", increment("drain"), {
          msgId: `drain-${i}`,
          timeoutMs: 20_000,
        }).then(readReply),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await jsm.consumers.info(STREAM, "cache")).num_ack_pending).toBeGreaterThan(0);
    a.kill("SIGTERM");
    const signalledAt = Date.now();
    const answers = await replies;
    const lastAnswer = Date.now() - signalledAt;
    expect(await a.exited()).toBe(0);
    expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);
    expect(new Set(answers.map((answer) => answer.text)).size).toBe(200);
    expect(await direct.get("drain")).toBe("200");
    expect(a.logs.at(-1)?.msg).toBe("stopped");
    // Nothing was left for the ack wait to hand over: that would take processingTimeout.
    expect(lastAnswer).toBeLessThan(PROCESSING_TIMEOUT_MS + 500);
    const after = await jsm.consumers.info(STREAM, "cache");
    expect(after.num_ack_pending).toBe(0);
    console.log(
      `durable: SIGTERM with requests held; all 200 answered ${lastAnswer}ms after the signal, ` +
        `${after.delivered.consumer_seq - before.delivered.consumer_seq} deliveries`,
    );
  });

  it("counts 5 000 increments from 4 publishers exactly once while a worker is killed and restarted twice", async () => {
    const TOTAL = 5_000;
    const PUBLISHERS = 4;
    const PER_PUBLISHER = TOTAL / PUBLISHERS;
    const steady = spawnProcess();
    let victim = spawnProcess();
    await Promise.all([steady, victim].map(pulling));

    const replies = new Map<string, string[]>();
    let answered = 0;
    const connections = await Promise.all(
      Array.from({ length: PUBLISHERS }, () => connect({ servers: nats.url })),
    );
    const startedAt = Date.now();
    const publishers = connections.map(async (pc, p) => {
      const inbox = createInbox();
      pc.subscribe(`${inbox}.*`, {
        callback: (_error, msg) => {
          const id = msg.subject.slice(inbox.length + 1);
          const seen = replies.get(id) ?? [];
          if (seen.length === 0) answered++;
          seen.push(`${msg.headers?.get("Nats-Service-Error-Code") ?? ""}|${msg.string()}`);
          replies.set(id, seen);
        },
      });
      await pc.flush();
      const js = jetstream(pc);
      // About 7 s of publishing, so the kills land while work is flowing.
      for (let i = 0; i < PER_PUBLISHER; i += 10) {
        await Promise.all(
          Array.from({ length: Math.min(10, PER_PUBLISHER - i) }, async (_, j) => {
            const id = `p${p}-${i + j}`;
            const headers = natsHeaders();
            headers.set("Binding-Reply-To", `${inbox}.${id}`);
            // A publish whose ack is lost is sent again with the same id.
            for (let attempt = 0; ; attempt++) {
              try {
                await js.publish("bindings.durable.cache", increment("total"), {
                  msgID: id,
                  headers,
                  timeout: 5_000,
                });
                return;
              } catch (error) {
                if (attempt >= 3) throw error;
              }
            }
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });

    const kills: string[] = [];
    for (const at of [1_500, 4_500]) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, startedAt + at - Date.now())));
      // Hold Redis for a moment so both workers have requests in flight when
      // the victim dies; otherwise each takes a millisecond and a kill rarely
      // catches one.
      await direct.call("CLIENT", "PAUSE", "500", "WRITE");
      await new Promise((resolve) => setTimeout(resolve, 300));
      const held = (await jsm.consumers.info(STREAM, "cache")).num_ack_pending;
      expect(held).toBeGreaterThan(0);
      victim.kill("SIGKILL");
      await victim.exited();
      kills.push(`killed at +${Date.now() - startedAt}ms (${answered} answered, ${held} unacked)`);
      victim = spawnProcess();
      await pulling(victim);
    }
    await Promise.all(publishers);
    const published = Date.now() - startedAt;
    await expect.poll(() => answered, { timeout: 30_000, interval: 100 }).toBe(TOTAL);
    const finished = Date.now() - startedAt;

    expect(await direct.get("total")).toBe(String(TOTAL));
    const values = new Set<string>();
    let duplicates = 0;
    for (const [id, seen] of replies) {
      const first = seen[0] ?? "";
      expect(first.startsWith("|"), `${id}: ${first}`).toBe(true);
      values.add(first);
      if (seen.length > 1) duplicates++;
      for (const other of seen) expect(other, id).toBe(first);
    }
    expect(replies.size).toBe(TOTAL);
    // Every increment was counted once, so every caller saw a different count.
    expect(values.size).toBe(TOTAL);
    console.log(
      `durable: ${TOTAL} increments, ${kills.join("; ")}; published in ${published}ms, ` +
        `all answered after ${finished}ms; ${duplicates} ids answered twice (identically)`,
    );
    await Promise.all(connections.map((pc) => pc.close()));
  }, 90_000);
});
