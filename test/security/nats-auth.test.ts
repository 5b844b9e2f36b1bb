import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createUser } from "@nats-io/nkeys";
import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
} from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchWorker, sleep, type WorkerHandle } from "../faults/support/stack.js";
import type { RedisServer } from "../harness/redis.js";
import { createTestCertificates } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { request } from "../support/requests.js";
import { createTrust } from "./support/jwt.js";

/**
 * The worker against nats-servers that demand authentication (token,
 * user/password, nkey, creds with JWTs) or TLS (server verification, client
 * certificates): it serves with the right credentials, and with wrong ones it
 * never serves and never prints them. TLS certificates are always verified:
 * there is no setting to skip NATS verification.
 */
describe("security: NATS authentication and TLS", () => {
  let redis: RedisServer;
  let dir: string;
  let tls: Awaited<ReturnType<typeof createTestCertificates>>;
  let otherCa: Awaited<ReturnType<typeof createTestCertificates>>;
  const cleanup: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    redis = await redisServer();
    dir = await mkdtemp(join(tmpdir(), "rbw-nats-auth-"));
    [tls, otherCa] = await Promise.all([
      createTestCertificates(join(dir, "tls")),
      createTestCertificates(join(dir, "other-ca")),
    ]);
  });

  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    await redis?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const server = async (config: string) => {
    const nats = await natsServer({ config });
    cleanup.push(() => nats.close());
    return nats;
  };

  const file = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text, { mode: 0o600 });
    return path;
  };

  const worker = async (natsUrl: string, env: Record<string, string>, waitServing = true) => {
    const handle = await launchWorker({
      natsUrl,
      redisHost: `${redis.host}:${redis.port}`,
      env,
      waitServing,
    });
    cleanup.push(() => handle.dispose());
    return handle;
  };

  /** The worker serves: a caller with its own credentials gets an answer. */
  const expectServes = async (natsUrl: string, caller: Partial<ConnectionOptions>) => {
    const nc = await connect({ servers: natsUrl, ...caller });
    try {
      const reply = await request(nc, "bindings.cache", {
        operation: "increment",
        metadata: { key: `auth-${randomBytes(4).toString("hex")}` },
      });
      expect(reply.status).toBe(200);
      expect(reply.json).toEqual({ data: 1 });
    } finally {
      await nc.close();
    }
  };

  /**
   * The worker never gets to serve, and never prints what it was given. A
   * refused login ends the process with one fatal line; a failed TLS handshake
   * is retried (the server may yet get the right certificate), without serving.
   */
  const expectRefused = async (
    handle: WorkerHandle,
    secrets: string[],
    how: "exits" | "retries",
  ) => {
    if (how === "exits") {
      expect(await handle.proc.exited()).toBe(1);
      const fatal = handle.proc.logs.filter((line) => line.level === "fatal");
      expect(fatal.map((line) => line.msg)).toEqual([
        expect.stringMatching(/^NATS refused the connection: /),
      ]);
      expect(handle.proc.output()).not.toMatch(/\n\s+at /);
    } else {
      await sleep(3000);
      expect(handle.proc.child.exitCode).toBeNull();
    }
    expect(handle.proc.logs.some((line) => line.msg === "binding serving")).toBe(false);
    for (const value of secrets) expect(handle.proc.output()).not.toContain(value);
  };

  it("token: served with the token, refused with a wrong one", async () => {
    const token = `tok-${randomBytes(12).toString("hex")}`;
    const wrong = `wrong-${randomBytes(12).toString("hex")}`;
    const nats = await server(`authorization { token: "${token}" }\n`);
    const good = await worker(nats.url, { NATS_TOKEN: token });
    await expectServes(nats.url, { token });
    expect(good.proc.output()).not.toContain(token);
    await expectRefused(
      await worker(nats.url, { NATS_TOKEN: wrong }, false),
      [wrong, token],
      "exits",
    );
  });

  it("user and password: served with them, refused with a wrong password", async () => {
    const password = `pw-${randomBytes(12).toString("hex")}`;
    const wrong = `wrong-${randomBytes(12).toString("hex")}`;
    const nats = await server(
      `authorization { users: [ { user: "worker", password: "${password}" }, { user: "caller", password: "${password}" } ] }\n`,
    );
    const good = await worker(nats.url, { NATS_USER: "worker", NATS_PASSWORD: password });
    await expectServes(nats.url, { user: "caller", pass: password });
    expect(good.proc.output()).not.toContain(password);
    await expectRefused(
      await worker(nats.url, { NATS_USER: "worker", NATS_PASSWORD: wrong }, false),
      [wrong, password],
      "exits",
    );
  });

  it("nkey: served with the user's seed, refused with another seed", async () => {
    const workerKey = createUser();
    const callerKey = createUser();
    const stranger = createUser();
    const nats = await server(
      `authorization { users: [ { nkey: "${workerKey.getPublicKey()}" }, { nkey: "${callerKey.getPublicKey()}" } ] }\n`,
    );
    const seed = Buffer.from(workerKey.getSeed()).toString();
    const good = await worker(nats.url, { NATS_NKEY_SEED: await file("worker.nk", seed) });
    await expectServes(nats.url, { authenticator: nkeyAuthenticator(callerKey.getSeed()) });
    expect(good.proc.output()).not.toContain(seed);
    const strangerSeed = Buffer.from(stranger.getSeed()).toString();
    await expectRefused(
      await worker(nats.url, { NATS_NKEY_SEED: await file("stranger.nk", strangerSeed) }, false),
      [strangerSeed, seed],
      "exits",
    );
  });

  it("creds (JWT + seed, operator mode): served with a user of the account, refused with a foreign one", async () => {
    const trust = createTrust();
    const foreign = createTrust();
    const nats = await server(trust.serverConfig);
    const workerCreds = trust.userCreds("worker");
    const callerCreds = trust.userCreds("caller");
    const good = await worker(nats.url, {
      NATS_CREDS: await file("worker.creds", workerCreds.text),
    });
    await expectServes(nats.url, {
      authenticator: credsAuthenticator(new TextEncoder().encode(callerCreds.text)),
    });
    expect(good.proc.output()).not.toContain(workerCreds.seed);
    const outsider = foreign.userCreds("outsider");
    await expectRefused(
      await worker(nats.url, { NATS_CREDS: await file("outsider.creds", outsider.text) }, false),
      [outsider.seed, workerCreds.seed],
      "exits",
    );
  });

  it("TLS: served when the server's CA is given; never without it or with another CA", async () => {
    const nats = await server(
      `tls { cert_file: "${tls.certFile}", key_file: "${tls.keyFile}", ca_file: "${tls.caFile}", timeout: 5 }\n`,
    );
    await worker(nats.url, { NATS_TLS_CA: tls.caFile });
    await expectServes(nats.url, { tls: { caFile: tls.caFile } });
    // Verification is on: the system CAs and a foreign CA both fail the handshake.
    await Promise.all([
      worker(nats.url, {}, false).then((w) => expectRefused(w, [], "retries")),
      worker(nats.url, { NATS_TLS_CA: otherCa.caFile }, false).then((w) =>
        expectRefused(w, [], "retries"),
      ),
    ]);
  });

  it("TLS with client certificates: served with a certificate, refused without one", async () => {
    const nats = await server(
      `tls { cert_file: "${tls.certFile}", key_file: "${tls.keyFile}", ca_file: "${tls.caFile}", verify: true, timeout: 5 }\n`,
    );
    await worker(nats.url, {
      NATS_TLS_CA: tls.caFile,
      NATS_TLS_CERT: tls.clientCertFile,
      NATS_TLS_KEY: tls.clientKeyFile,
    });
    await expectServes(nats.url, {
      tls: { caFile: tls.caFile, certFile: tls.clientCertFile, keyFile: tls.clientKeyFile },
    });
    // Without a certificate, or with one from another CA, the server refuses the handshake.
    await Promise.all([
      worker(nats.url, { NATS_TLS_CA: tls.caFile }, false).then((w) =>
        expectRefused(w, [], "retries"),
      ),
      worker(
        nats.url,
        {
          NATS_TLS_CA: tls.caFile,
          NATS_TLS_CERT: otherCa.clientCertFile,
          NATS_TLS_KEY: otherCa.clientKeyFile,
        },
        false,
      ).then((w) => expectRefused(w, [], "retries")),
    ]);
  });
});
