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
const ALL_SECRETS = [
  REDIS_PASSWORD,
  ROTATED_PASSWORD,
  NATS_TOKEN,
  INLINE_PASSWORD,
  SECRET_DB,
  SECRET_KEY_PEM.split("\n")[1] ?? "",
];

function binding(name: string, fields: string): string {
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
---
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
 * reached with a password from a secret store, a NATS server that wants a
 * token, debug logs, spans printed to stdout, request errors, a password
 * rotation that makes authentication fail, configuration errors, `validate`.
 * Every byte the processes wrote, every reply and every HTTP and discovery
 * answer is searched for every secret.
 */
describe("security: secrets never leave the process", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  let dir: string;
  let worker: WorkerHandle | undefined;
  /** Everything observable from outside, to be searched at the end. */
  const seen: string[] = [];

  beforeAll(async () => {
    [nats, redis] = await Promise.all([
      natsServer({ config: `authorization { token: "${NATS_TOKEN}" }\n` }),
      redisServer({ password: REDIS_PASSWORD }),
    ]);
    nc = await connect({ servers: nats.url, token: NATS_TOKEN });
    dir = await mkdtemp(join(tmpdir(), "rbw-secrets-"));
  });

  afterAll(async () => {
    await nc?.close();
    await worker?.dispose();
    await Promise.all([nats?.close(), redis?.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it("a full run with operations, errors and a password rotation prints no secret", async () => {
    const good = join(dir, "good");
    await run("mkdir", ["-p", good]);
    await writeFile(
      join(good, "secrets.json"),
      JSON.stringify({ "redis-password": REDIS_PASSWORD }),
    );
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
    const call = async (body: unknown) => {
      const reply = await request(nc, "bindings.cache", body, { timeoutMs: 10_000 });
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
    expect(output).toMatch(/WRONGPASS|NOAUTH|auth/i);
  });

  it("validate prints resolved settings and errors without secrets", async () => {
    const good = join(dir, "good");
    const resolved = await cli(["validate", good]);
    expect(resolved.code).toBe(0);
    expect(resolved.stdout).toContain("****");
    seen.push(resolved.stdout, resolved.stderr);

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
