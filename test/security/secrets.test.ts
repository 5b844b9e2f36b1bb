import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getJson, launchWorker, sleep, until, type WorkerHandle } from "../faults/support/stack.js";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { type RedisSentinelGroup, startRedisSentinel } from "../harness/redis-sentinel.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { request } from "../support/requests.js";
import { spawnWorker } from "../support/worker-process.js";

const MAIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
const run = promisify(execFile);

const secret = (label: string) => `${label}-${randomBytes(12).toString("hex")}`;
const REDIS_PASSWORD = secret("redis-pw");
const ROTATED_PASSWORD = secret("rotated-pw");
const NATS_TOKEN = secret("nats-token");
const INLINE_PASSWORD = secret("inline-pw");
const SECRET_DB = secret("db-from-store");
const SECRET_KEY_PEM = `-----BEGIN PRIVATE KEY-----\n${secret("client-key")}\n-----END PRIVATE KEY-----`;
const SENTINEL_PASSWORD = secret("sentinel-pw");
const SENTINEL_DATA_PASSWORD = secret("sentinel-data-pw");
const WRONG_SENTINEL_PASSWORD = secret("wrong-sentinel-pw");
const ALL_SECRETS = [
  REDIS_PASSWORD,
  SENTINEL_PASSWORD,
  SENTINEL_DATA_PASSWORD,
  WRONG_SENTINEL_PASSWORD,
  ROTATED_PASSWORD,
  NATS_TOKEN,
  INLINE_PASSWORD,
  SECRET_DB,
  SECRET_KEY_PEM.split("\n")[1] ?? "",
];

/** A binding whose secretKeyRefs name the local-secrets store (defined once per directory). */
function component(name: string, fields: string): string {
  return `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: ${name}
spec:
  type: bindings.redis
  version: v1
  metadata:
${fields}
auth:
  secretStore: local-secrets
`;
}

/** A binding and the local-secrets store (secrets.json next to it). */
function binding(name: string, fields: string): string {
  return `${component(name, fields)}---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: local-secrets
spec:
  type: secretstores.local.file
  version: v1
  metadata:
    - name: secretsFile
      value: secrets.json
`;
}

/** A Sentinel binding whose passwords come from the store's sentinel-* keys. */
function sentinelFields(group: RedisSentinelGroup): string {
  return `    - name: redisHost
      value: "${group.sentinelHosts}"
    - name: failover
      value: "true"
    - name: sentinelMasterName
      value: "${group.masterName}"
    - name: sentinelPassword
      secretKeyRef: { name: sentinel-password, key: sentinel-password }
    - name: redisPassword
      secretKeyRef: { name: sentinel-data-password, key: sentinel-data-password }`;
}

/** Runs the CLI from the build and returns everything it printed. */
async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [MAIN, ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
      timeout: 20_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

/**
 * A full run in which secrets are everywhere: a password-protected Redis
 * reached with a password from a secret store, Sentinels and a master that
 * want passwords (from the store too), a NATS server that wants a token, debug logs, spans printed to stdout, request errors, a password
 * rotation that makes authentication fail, Sentinels refusing a wrong
 * password, configuration errors, `validate`.
 * Every byte the processes wrote, every reply and every HTTP and discovery
 * answer is searched for every secret.
 */
describe("security: secrets never leave the process", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let sentinel: RedisSentinelGroup;
  let nc: NatsConnection;
  let dir: string;
  let worker: WorkerHandle | undefined;
  /** Everything observable from outside, to be searched at the end. */
  const seen: string[] = [];

  beforeAll(async () => {
    [nats, redis, sentinel] = await Promise.all([
      natsServer({ config: `authorization { token: "${NATS_TOKEN}" }\n` }),
      redisServer({ password: REDIS_PASSWORD }),
      // One Sentinel is enough here: no failover, only authentication.
      startRedisSentinel({
        sentinels: 1,
        sentinelAuth: { password: SENTINEL_PASSWORD },
        dataPassword: SENTINEL_DATA_PASSWORD,
      }),
    ]);
    nc = await connect({ servers: nats.url, token: NATS_TOKEN });
    dir = await mkdtemp(join(tmpdir(), "rbw-secrets-"));
  });

  afterAll(async () => {
    await nc?.close();
    await worker?.dispose();
    await Promise.all([nats?.close(), redis?.close(), sentinel?.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it("a full run with operations, errors and a password rotation prints no secret", async () => {
    const good = join(dir, "good");
    await run("mkdir", ["-p", good]);
    await writeFile(
      join(good, "secrets.json"),
      JSON.stringify({
        "redis-password": REDIS_PASSWORD,
        "sentinel-password": SENTINEL_PASSWORD,
        "sentinel-data-password": SENTINEL_DATA_PASSWORD,
      }),
    );
    await writeFile(join(good, "ha.yaml"), component("ha", sentinelFields(sentinel)));
    await writeFile(
      join(good, "cache.yaml"),
      binding(
        "cache",
        `    - name: redisHost
      value: "${redis.host}:${redis.port}"
    - name: redisPassword
      secretKeyRef: { name: redis-password, key: redis-password }`,
      ),
    );

    worker = await launchWorker({
      natsUrl: nats.url,
      componentsPath: good,
      env: { NATS_TOKEN, LOG_LEVEL: "debug", OTEL_TRACES_EXPORTER: "console" },
    });
    // "binding serving" of the first binding: wait for the other one too.
    await until(async () => (await worker?.readyz())?.status === 200, "both bindings serving");
    const call = async (body: unknown, subject = "bindings.cache") => {
      const reply = await request(nc, subject, body, { timeoutMs: 10_000 });
      seen.push(reply.text, reply.msg.headers?.get("Nats-Service-Error") ?? "");
      return reply.status;
    };
    const statuses = [
      await call({
        operation: "create",
        metadata: { key: "k", ttlInSeconds: "60" },
        data: { a: 1 },
      }),
      await call({ operation: "get", metadata: { key: "k" } }),
      await call({ operation: "increment", metadata: { key: "n" } }),
      await call({ operation: "increment", metadata: { key: "k" } }),
      await call({ operation: "get", metadata: { key: "k", delete: "maybe" } }),
      await call({ operation: "nope", metadata: { key: "k" } }),
      await call("{not json"),
      await call({ operation: "delete", metadata: { key: "k" } }),
    ];
    expect(statuses).toEqual([200, 200, 200, 409, 400, 400, 400, 200]);
    // Through the Sentinel, which wants its own password, to a master that wants another.
    const ha = [
      await call({ operation: "create", metadata: { key: "k" }, data: 1 }, "bindings.ha"),
      await call({ operation: "get", metadata: { key: "k" } }, "bindings.ha"),
      await call({ operation: "increment", metadata: { key: "k" } }, "bindings.ha"),
    ];
    expect(ha).toEqual([200, 200, 200]);

    // Discovery and HTTP answers.
    for (const subject of ["$SRV.INFO.redis-binding", "$SRV.STATS.redis-binding"]) {
      seen.push((await nc.request(subject, "", { timeout: 5000 })).string());
    }
    seen.push(JSON.stringify((await worker.readyz()).body));
    seen.push(JSON.stringify((await getJson(worker.httpPort, "/metrics")).body));

    // Rotate the password under the worker: its reconnects fail authentication.
    const admin = new Redis({ host: redis.host, port: redis.port, password: REDIS_PASSWORD });
    await admin.config("SET", "requirepass", ROTATED_PASSWORD);
    await admin.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
    await until(async () => (await worker?.readyz())?.status === 503, "the worker to notice");
    const failing = await call({ operation: "get", metadata: { key: "k" } });
    expect(failing).toBe(503);
    await sleep(1500);
    await admin.config("SET", "requirepass", REDIS_PASSWORD);
    admin.disconnect();
    await until(
      async () => (await worker?.readyz())?.status === 200,
      "the worker to recover",
      20_000,
    );
    expect(await call({ operation: "get", metadata: { key: "n" } })).toBe(200);

    expect(await worker.stop("SIGTERM")).toBe(0);
    const output = worker.proc.output();
    seen.push(output);
    // Not vacuous: debug logs, spans and the authentication failure are all in there.
    expect(output).toContain("request served");
    expect(output).toContain("process bindings.cache");
    expect(output).toContain("process bindings.ha");
    expect(output).toMatch(/WRONGPASS|NOAUTH|auth/i);
  });

  it("Sentinels refusing a wrong sentinelPassword: logged, not served, not printed", async () => {
    const wrong = join(dir, "wrong-sentinel");
    await run("mkdir", ["-p", wrong]);
    await writeFile(
      join(wrong, "secrets.json"),
      JSON.stringify({
        "sentinel-password": WRONG_SENTINEL_PASSWORD,
        "sentinel-data-password": SENTINEL_DATA_PASSWORD,
      }),
    );
    await writeFile(join(wrong, "ha.yaml"), binding("ha", sentinelFields(sentinel)));
    const refused = await launchWorker({
      natsUrl: nats.url,
      componentsPath: wrong,
      env: { NATS_TOKEN, LOG_LEVEL: "debug", OTEL_TRACES_EXPORTER: "console" },
      waitServing: false,
    });
    try {
      const failed = await refused.proc.waitForLog(
        (line) => line.msg === "redis authentication failed",
      );
      expect(failed).toMatchObject({ level: "error", binding: "ha", sentinel: true });
      // The health server may start listening after the first refusal.
      await until(async () => (await refused.readyz()).status === 503, "readyz 503");
      const readyz = await refused.readyz();
      expect(readyz.status).toBe(503);
      seen.push(JSON.stringify(readyz.body));
      await expect(
        request(nc, "bindings.ha", { operation: "get", metadata: { key: "k" } }),
      ).rejects.toThrow(/no responders|503/i);
      expect(await refused.stop("SIGTERM")).toBe(0);
    } finally {
      await refused.dispose();
      seen.push(refused.proc.output());
    }
    const validated = await cli(["validate", wrong]);
    seen.push(validated.stdout, validated.stderr);
    expect(validated.code).toBe(0);
    expect(validated.stdout).toContain('"sentinelPassword": "****"');
  });

  it("validate prints resolved settings and errors without secrets", async () => {
    const good = join(dir, "good");
    const resolved = await cli(["validate", good]);
    seen.push(resolved.stdout, resolved.stderr);
    expect(resolved.code).toBe(0);
    expect(resolved.stdout).toContain("****");
    expect(resolved.stdout).toContain('"sentinelPassword": "****"');

    const cases: Record<string, { files: Record<string, string>; field: RegExp }> = {
      "inline password and a bad duration": {
        files: {
          "secrets.json": "{}",
          "bad.yaml": binding(
            "bad",
            `    - name: redisHost
      value: "localhost:6379"
    - name: redisPassword
      value: "${INLINE_PASSWORD}"
    - name: dialTimeout
      value: "soon"`,
          ),
        },
        field: /dialTimeout/,
      },
      "a secret from the store that is not a number": {
        files: {
          "secrets.json": JSON.stringify({ db: SECRET_DB }),
          "bad.yaml": binding(
            "bad",
            `    - name: redisHost
      value: "localhost:6379"
    - name: redisDB
      secretKeyRef: { name: db, key: db }`,
          ),
        },
        field: /redisDB/,
      },
      "a client key without a certificate": {
        files: {
          "secrets.json": JSON.stringify({ key: SECRET_KEY_PEM }),
          "bad.yaml": binding(
            "bad",
            `    - name: redisHost
      value: "localhost:6379"
    - name: enableTLS
      value: "true"
    - name: clientKey
      secretKeyRef: { name: key, key: key }`,
          ),
        },
        field: /clientKey|clientCert/,
      },
      "a password written as a map with a list key (the YAML library used to print it)": {
        files: {
          "secrets.json": "{}",
          "bad.yaml": binding(
            "bad",
            `    - name: redisHost
      value: "localhost:6379"
    - name: redisPassword
      value: { [${INLINE_PASSWORD}]: 1 }`,
          ),
        },
        field: /redisPassword/,
      },
      "a password that is a YAML error": {
        files: {
          "secrets.json": "{}",
          "bad.yaml": `apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: { name: bad }\nspec:\n  type: bindings.redis\n  metadata:\n    - name: redisPassword\n      value: "${INLINE_PASSWORD}\n    - name: x: y: z\n`,
        },
        field: /YAML/,
      },
    };
    for (const [name, { files, field }] of Object.entries(cases)) {
      const caseDir = await mkdtemp(join(dir, "bad-"));
      for (const [file, text] of Object.entries(files)) await writeFile(join(caseDir, file), text);
      const validated = await cli(["validate", caseDir]);
      expect(validated.code, name).toBe(1);
      expect(validated.stdout, name).toBe("");
      const lines = validated.stderr.trimEnd().split("\n");
      expect(lines, name).toHaveLength(1);
      expect(lines[0], name).toMatch(/^invalid configuration: /);
      expect(lines[0], name).toMatch(field);
      seen.push(validated.stdout, validated.stderr);

      // The worker refuses to start with the same single line, and no stack trace.
      const started = spawnWorker({ NATS_URL: nats.url, NATS_TOKEN, COMPONENTS_PATH: caseDir });
      expect(await started.exited(), name).toBe(1);
      expect(started.output(), name).not.toMatch(/\n\s+at /);
      seen.push(started.output());
    }
  });

  it("no secret appears in anything the runs printed or answered", () => {
    const everything = seen.join("\n");
    expect(everything.length).toBeGreaterThan(10_000);
    for (const value of ALL_SECRETS) {
      expect(everything.includes(value), `a secret (${value.slice(0, 8)}...) leaked`).toBe(false);
    }
  });
});
