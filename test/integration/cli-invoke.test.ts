import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";
import { cli } from "./cli-process.js";

/** `redis-binding-worker invoke`, the built CLI, against a running worker. */
describe("redis-binding-worker invoke", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  let worker: TestWorker;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer({ jetstream: true }), redisServer()]);
    nc = await connect({ servers: nats.url });
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [redisComponent("cache", { redisHost: `${redis.host}:${redis.port}` })],
    });
    dir = await mkdtemp(join(tmpdir(), "rbw-cli-"));
    env = { NATS_URL: nats.url };
  });

  afterAll(async () => {
    await worker?.stop();
    await nc?.close();
    await Promise.all([nats?.close(), redis?.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it("creates (silent on success), gets, and gets with --delete", async () => {
    const created = await cli(
      [
        "invoke",
        "cache",
        "create",
        "--key",
        "greeting",
        "--data",
        '{"Hello":"World"}',
        "--ttl",
        "60",
      ],
      { env },
    );
    expect(created).toMatchObject({ code: 0, out: "", stderr: "" });
    expect(Number(await redis.cli("TTL", "greeting"))).toBeGreaterThan(50);

    const got = await cli(["invoke", "cache", "get", "--key", "greeting"], { env });
    expect(got.code).toBe(0);
    expect(got.out).toBe('{"data":{"Hello":"World"}}\n');

    const taken = await cli(["invoke", "cache", "get", "--key", "greeting", "--delete"], { env });
    expect(taken.out).toBe('{"data":{"Hello":"World"}}\n');
    const gone = await cli(["invoke", "cache", "get", "--key", "greeting"], { env });
    expect(gone).toMatchObject({ code: 0, out: "" });
  });

  it("sends text that is not JSON as a string", async () => {
    await cli(["invoke", "cache", "create", "--key", "word", "--data", "hello"], { env });
    expect(await redis.cli("GET", "word")).toBe('"hello"');
  });

  it("increments and deletes", async () => {
    const first = await cli(["invoke", "cache", "increment", "--key", "n", "--ttl", "1h"], { env });
    expect(first).toMatchObject({ code: 0, out: '{"data":1}\n' });
    const second = await cli(["invoke", "cache", "increment", "--key", "n"], { env });
    expect(second.out).toBe('{"data":2}\n');
    const deleted = await cli(["invoke", "cache", "delete", "--key", "n"], { env });
    expect(deleted).toMatchObject({ code: 0, out: "" });
    expect(await redis.cli("EXISTS", "n")).toBe("0");
  });

  it("passes any metadata with --meta", async () => {
    const result = await cli(
      ["invoke", "cache", "create", "--key", "m", "--data", "1", "--meta", "ttlInSeconds=120"],
      { env },
    );
    expect(result.code).toBe(0);
    expect(Number(await redis.cli("TTL", "m"))).toBeGreaterThan(100);
  });

  it("raw mode: stores a file's bytes as they are and writes them back to stdout", async () => {
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 0]);
    const file = join(dir, "blob.bin");
    await writeFile(file, bytes);
    const created = await cli(["invoke", "cache", "create", "--key", "blob", "--raw-file", file], {
      env,
    });
    expect(created).toMatchObject({ code: 0, stderr: "" });
    expect(created.stdout.length).toBe(0);
    const got = await cli(["invoke", "cache", "get", "--key", "blob", "--raw"], { env });
    expect(got.code).toBe(0);
    expect(got.stdout.equals(bytes)).toBe(true);
    // The JSON reply for the same bytes: base64, as the protocol says.
    const json = await cli(["invoke", "cache", "get", "--key", "blob"], { env });
    expect(JSON.parse(json.out)).toEqual({
      data: bytes.toString("base64"),
      metadata: { dataEncoding: "base64" },
    });
  });

  it("raw mode: reads the value from stdin; increment answers decimal text", async () => {
    const created = await cli(["invoke", "cache", "create", "--key", "piped", "--raw-stdin"], {
      env,
      stdin: "line one\nline two\n",
    });
    expect(created.code).toBe(0);
    expect(await redis.cli("GET", "piped")).toBe("line one\nline two\n");
    const counted = await cli(["invoke", "cache", "increment", "--key", "rawcount", "--raw"], {
      env,
    });
    expect(counted.out).toBe("1");
  });

  it("sends --durable requests through JetStream", async () => {
    const deadline = Date.now() + 15_000;
    while (!worker.logs.some((line) => line.msg === "durable intake pulling")) {
      if (Date.now() > deadline) throw new Error("durable intake did not start");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const created = await cli(
      ["invoke", "cache", "create", "--key", "d", "--data", '"kept"', "--durable"],
      { env },
    );
    expect(created).toMatchObject({ code: 0, stderr: "" });
    const counted = await cli(
      ["invoke", "cache", "increment", "--key", "dc", "--durable", "--msg-id", "cli-1"],
      { env },
    );
    expect(counted.out).toBe('{"data":1}\n');
    // The same --msg-id again is a duplicate JetStream drops: not applied twice, no answer.
    const repeated = await cli(
      ["invoke", "cache", "increment", "--key", "dc", "--durable", "--msg-id", "cli-1"].concat([
        "--timeout",
        "1s",
      ]),
      { env },
    );
    expect(repeated.code).toBe(3);
    expect(await redis.cli("GET", "dc")).toBe("1");
    expect(await redis.cli("GET", "d")).toBe('"kept"');
  });

  it("exits 1 with the worker's error on stderr", async () => {
    const result = await cli(["invoke", "cache", "create", "--key", "x", "--ttl", "0"], { env });
    expect(result.code).toBe(1);
    expect(result.out).toBe("");
    expect(result.stderr).toMatch(/^redis-binding-worker: error 400 ERR_INVALID_REQUEST: bad ttl/);
    const unknown = await cli(["invoke", "cache", "frobnicate", "--key", "x"], { env });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/ERR_UNSUPPORTED_OPERATION/);
  });

  it("exits 3 when nobody answers: no worker, a silent one past --timeout, no NATS", async () => {
    const nobody = await cli(["invoke", "nobody", "get", "--key", "k"], { env });
    expect(nobody.code).toBe(3);
    expect(nobody.stderr).toMatch(/no worker serves bindings\.nobody/);

    const silent = nc.subscribe("bindings.silent", { callback: () => {} });
    await nc.flush();
    const timedOut = await cli(["invoke", "silent", "get", "--key", "k", "--timeout", "300ms"], {
      env,
    });
    silent.unsubscribe();
    expect(timedOut.code).toBe(3);
    expect(timedOut.stderr).toMatch(/no reply from bindings\.silent within 300ms/);
    expect(timedOut.elapsedMs).toBeLessThan(5_000);

    const noNats = await cli(["invoke", "cache", "get", "--key", "k"], {
      env: { NATS_URL: "nats://127.0.0.1:1" },
    });
    expect(noNats.code).toBe(3);
    expect(noNats.stderr).toMatch(/cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
  });

  it("exits 2 on bad usage, before connecting", async () => {
    const cases: string[][] = [
      ["invoke"],
      ["invoke", "cache"],
      ["invoke", "cache", "get", "--bogus"],
      ["invoke", "cache", "get", "--key", "k", "--timeout", "soon"],
      ["invoke", "cache", "create", "--key", "k", "--data", "1", "--raw-stdin"],
      ["invoke", "cache", "get", "--meta", "novalue"],
      ["invoke", "a.b", "get", "--key", "k"],
      ["invoke", "cache", "create", "--key", "k", "--raw-file", join(dir, "missing.bin")],
    ];
    for (const args of cases) {
      // An unreachable NATS: exit 2 proves the command line was refused first.
      const result = await cli(args, { env: { NATS_URL: "nats://127.0.0.1:1" } });
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr, args.join(" ")).toMatch(/^redis-binding-worker: /);
    }
  });

  it("prints its help", async () => {
    const help = await cli(["invoke", "--help"]);
    expect(help.code).toBe(0);
    for (const option of ["--raw-file", "--raw-stdin", "--durable", "--timeout", "Exit codes"]) {
      expect(help.out).toContain(option);
    }
  });
});
