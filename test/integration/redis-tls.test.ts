import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseBindingSettings } from "../../src/config/binding-schema.js";
import { nodeOptions } from "../../src/redis/connection-options.js";
import type { NatsServer } from "../harness/nats.js";
import { makeTempDir } from "../harness/process.js";
import { createTestCertificates, type RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { request } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `enableTLS` against TLS-only Redis servers: verification on by default
 * (with `caCert` for the test's private CA), a wrong CA refused with a clear
 * error, `insecureSkipTLSVerify`, and client certificates for a server with
 * `tls-auth-clients yes`.
 */
describe("Redis over TLS", () => {
  let nats: NatsServer;
  let tls: RedisServer;
  let mutual: RedisServer;
  let nc: NatsConnection;
  let ca: string;
  let mutualCa: string;
  let otherCa: string;
  let clientCert: string;
  let clientKey: string;
  let dir: string;
  const workers: TestWorker[] = [];

  beforeAll(async () => {
    dir = await makeTempDir("tls-test");
    [nats, tls, mutual] = await Promise.all([
      natsServer(),
      redisServer({ tls: true }),
      redisServer({ tls: { authClients: "yes" } }),
    ]);
    const other = await createTestCertificates(join(dir, "other"));
    const read = (file: string | undefined) => readFile(file as string, "utf8");
    [ca, mutualCa, otherCa, clientCert, clientKey] = await Promise.all([
      read(tls.tls?.caFile),
      read(mutual.tls?.caFile),
      read(other.caFile),
      read(mutual.tls?.clientCertFile),
      read(mutual.tls?.clientKeyFile),
    ]);
    nc = await connect({ servers: nats.url });
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop()));
  });

  afterAll(async () => {
    await nc?.close();
    await Promise.all([nats?.close(), tls?.close(), mutual?.close()]);
  });

  const start = async (components: string[], waitUntilServing = true) => {
    const worker = await startTestWorker({ natsUrl: nats.url, components, waitUntilServing });
    workers.push(worker);
    return worker;
  };
  const hostOf = (server: RedisServer) => `${server.host}:${server.port}`;

  /** A create then a get through the worker, as proof that it serves. */
  async function expectServes() {
    const created = await request(nc, "bindings.cache", {
      operation: "create",
      metadata: { key: "tls-key" },
      data: { secure: true },
    });
    expect(created.status).toBe(200);
    const read = await request(nc, "bindings.cache", {
      operation: "get",
      metadata: { key: "tls-key" },
    });
    expect(read.json).toEqual({ data: { secure: true } });
  }

  /** Never subscribed: NATS answers no-responders, and readiness names Redis. */
  async function expectRefused(worker: TestWorker, message: string) {
    const line = await waitForLog(worker, message);
    expect(line.binding).toBe("cache");
    expect(worker.worker.readiness()).toMatchObject({
      ready: false,
      checks: { redis: { cache: false }, subscriptions: { cache: false } },
    });
    await expect(
      request(
        nc,
        "bindings.cache",
        { operation: "get", metadata: { key: "k" } },
        { timeoutMs: 500 },
      ),
    ).rejects.toThrow(/no responders/i);
    return line;
  }

  it("verifies the server with caCert and serves", async () => {
    await start([
      redisComponent("cache", { redisHost: hostOf(tls), enableTLS: "true", caCert: ca }),
    ]);
    await expectServes();
  });

  it("refuses a server its CA did not sign: one clear error, not ready, not subscribed", async () => {
    const worker = await start(
      [redisComponent("cache", { redisHost: hostOf(tls), enableTLS: "true", caCert: otherCa })],
      false,
    );
    const line = await expectRefused(worker, "redis TLS verification failed");
    expect(line.code).toBe("SELF_SIGNED_CERT_IN_CHAIN");
    expect(String(line.reason)).toMatch(/certificate/);
    expect(line.level).toBe("error");
    // ioredis retries about every second; the log says it once per 30 s.
    await sleep(2500);
    const lines = worker.logs.filter((entry) => entry.msg === "redis TLS verification failed");
    expect(lines).toHaveLength(1);
  });

  it("refuses the same server with only the system CA store", async () => {
    const worker = await start(
      [redisComponent("cache", { redisHost: hostOf(tls), enableTLS: "true" })],
      false,
    );
    await expectRefused(worker, "redis TLS verification failed");
  });

  it("serves with insecureSkipTLSVerify whatever the CA", async () => {
    await start([
      redisComponent("cache", {
        redisHost: hostOf(tls),
        enableTLS: "true",
        insecureSkipTLSVerify: "true",
        caCert: otherCa,
      }),
    ]);
    await expectServes();
  });

  it("presents clientCert/clientKey (the key from a secret store) to a server that requires one", async () => {
    const secrets = join(dir, "secrets.json");
    await writeFile(secrets, JSON.stringify({ redis: { clientKey } }));
    const store = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: local-secrets
spec:
  type: secretstores.local.file
  version: v1
  metadata:
    - name: secretsFile
      value: ${JSON.stringify(secrets)}
`;
    const binding = `${redisComponent("cache", {
      redisHost: hostOf(mutual),
      enableTLS: "true",
      caCert: mutualCa,
      clientCert,
    })}  - name: clientKey
    secretKeyRef: { name: "redis:clientKey", key: "redis:clientKey" }
auth:
  secretStore: local-secrets
`;
    await start([store, binding]);
    await expectServes();
  });

  it("without a client certificate, that server's refusal is a clear TLS error", async () => {
    const worker = await start(
      [redisComponent("cache", { redisHost: hostOf(mutual), enableTLS: "true", caCert: mutualCa })],
      false,
    );
    const line = await expectRefused(worker, "redis TLS handshake failed");
    expect(String(line.code)).toMatch(/^ERR_SSL_/);
  });

  it("never dies of a TLS socket's late error when a connection stops mid-handshake", async () => {
    // ioredis listens for one error per socket; the server's alert after an
    // aborted handshake is a second one, which used to be an uncaught exception.
    const { settings } = parseBindingSettings({
      file: "inline",
      name: "cache",
      metadata: [
        { name: "redisHost", value: hostOf(tls) },
        { name: "enableTLS", value: "true" },
      ],
    });
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on("uncaughtException", onUncaught);
    try {
      for (let attempt = 0; attempt < 40; attempt++) {
        const address = settings.addresses[0] as { host: string; port: number };
        const client = new Redis(nodeOptions(settings, address));
        client.on("error", () => {});
        client.connect().catch(() => {});
        await sleep(attempt % 20);
        client.disconnect();
      }
      await sleep(1000);
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(uncaught).toEqual([]);
  });
});

async function waitForLog(worker: TestWorker, message: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const line = worker.logs.find((entry) => entry.msg === message);
    if (line !== undefined) return line;
    if (Date.now() > deadline) {
      throw new Error(
        `no "${message}" log line; logs:\n${worker.logs.map((l) => JSON.stringify(l)).join("\n")}`,
      );
    }
    await sleep(50);
  }
}
