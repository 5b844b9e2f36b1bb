import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { parseBindingSettings } from "../../src/config/binding-schema.js";
import type { RedisBindingSettings } from "../../src/config/settings.js";
import { defaultAzureCredential } from "../../src/redis/azure-credential.js";
import { ConnectionLog } from "../../src/redis/connection-log.js";
import {
  clusterOptions,
  nodeOptions,
  sentinelOptions,
} from "../../src/redis/connection-options.js";
import { DataNodeConnector, QuietSentinelConnector } from "../../src/redis/connectors.js";
import { renewDelayMs, retryDelayMs } from "../../src/redis/entra-id.js";
import { tokenObjectId } from "../../src/redis/jwt.js";
import { tlsOptions } from "../../src/redis/tls.js";
import { tlsFailure } from "../../src/redis/tls-failure.js";
import { createTopology } from "../../src/redis/topology-factory.js";
import { createLogger } from "../../src/telemetry/logger.js";

const CA = "-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n";
const CERT = "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIBkey\n-----END PRIVATE KEY-----\n";

function settings(metadata: Record<string, string>): RedisBindingSettings {
  return parseBindingSettings({
    file: "cache.yaml",
    name: "cache",
    metadata: Object.entries(metadata).map(([name, value]) => ({ name, value })),
  }).settings;
}

describe("TLS options", () => {
  it("verify by default, with caCert as the trust anchor and client certificates", () => {
    expect(tlsOptions(settings({ redisHost: "h" }))).toBeUndefined();
    expect(tlsOptions(settings({ redisHost: "h", enableTLS: "true" }))).toEqual({
      rejectUnauthorized: true,
    });
    expect(
      tlsOptions(
        settings({
          redisHost: "h",
          enableTLS: "true",
          caCert: CA,
          clientCert: CERT,
          clientKey: KEY,
        }),
      ),
    ).toEqual({ rejectUnauthorized: true, ca: CA, cert: CERT, key: KEY });
  });

  it("skip verification (and the CA) only when told to", () => {
    expect(
      tlsOptions(
        settings({ redisHost: "h", enableTLS: "true", insecureSkipTLSVerify: "true", caCert: CA }),
      ),
    ).toEqual({ rejectUnauthorized: false });
  });
});

describe("options per topology", () => {
  it("node: the first address, db, timeouts, exact integers, no resend of unanswered commands", () => {
    const node = settings({
      redisHost: "a:7000,b:7001",
      redisDB: "3",
      readTimeout: "2s",
      dialTimeout: "1s",
      redisUsername: "u",
      redisPassword: "p",
    });
    const options = nodeOptions(node, node.addresses[0] as { host: string; port: number });
    expect(options).toMatchObject({
      host: "a",
      port: 7000,
      db: 3,
      username: "u",
      password: "p",
      connectTimeout: 1000,
      commandTimeout: 2000,
      // A silent socket is dropped a little after the command timed out.
      socketTimeout: 3000,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      stringNumbers: true,
      enableAutoPipelining: true,
      lazyConnect: true,
      Connector: DataNodeConnector,
    });
    expect(
      options.reconnectOnError?.(new Error("READONLY You can't write against a replica")),
    ).toBe(true);
    expect(options.reconnectOnError?.(new Error("WRONGTYPE x"))).toBe(false);
    expect(
      nodeOptions(settings({ redisHost: "h", readTimeout: "-1" }), { host: "h", port: 1 }),
    ).toMatchObject({ commandTimeout: undefined, socketTimeout: undefined });
  });

  it("sentinel: the Sentinels, master name, Sentinel credentials and TLS to both", () => {
    const options = sentinelOptions(
      settings({
        redisHost: "s1:26379,s2:26380",
        failover: "true",
        sentinelMasterName: "mymaster",
        sentinelUsername: "su",
        sentinelPassword: "sp",
        enableTLS: "true",
        caCert: CA,
      }),
    );
    expect(options).toMatchObject({
      sentinels: [
        { host: "s1", port: 26379 },
        { host: "s2", port: 26380 },
      ],
      name: "mymaster",
      sentinelUsername: "su",
      sentinelPassword: "sp",
      tls: { rejectUnauthorized: true, ca: CA },
      sentinelTLS: { rejectUnauthorized: true, ca: CA },
      enableTLSForSentinelMode: true,
      failoverDetector: true,
      Connector: QuietSentinelConnector,
    });
    expect(
      sentinelOptions(settings({ redisHost: "s", failover: "true", sentinelMasterName: "m" })),
    ).toMatchObject({ enableTLSForSentinelMode: false, sentinelTLS: undefined });
  });

  it("cluster: no db, no resend after a closed connection, no auto-pipelining, no stringNumbers", () => {
    const options = clusterOptions(
      settings({ redisHost: "a,b,c", redisType: "cluster", redisPassword: "p", enableTLS: "true" }),
    );
    expect(options).toMatchObject({
      retryDelayOnFailover: 0,
      enableAutoPipelining: false,
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    expect(options.redisOptions).toMatchObject({
      password: "p",
      tls: { rejectUnauthorized: true },
      autoResendUnfulfilledCommands: false,
    });
    expect(options.redisOptions).not.toHaveProperty("db");
    expect(options.redisOptions?.stringNumbers).toBeUndefined();
    // With TLS, seed host names are dialled as written, for certificate checks.
    let dialled: string | undefined;
    options.dnsLookup?.("redis.example", (_error, address) => {
      dialled = address;
    });
    expect(dialled).toBe("redis.example");
  });

  it("picks the topology: failover wins, then redisType", async () => {
    const made = [
      createTopology(settings({ redisHost: "h" })),
      createTopology(settings({ redisHost: "a,b", redisType: "cluster" })),
      createTopology(
        settings({
          redisHost: "s",
          failover: "true",
          sentinelMasterName: "m",
          redisType: "cluster",
        }),
      ),
    ];
    expect(made.map((topology) => topology.kind)).toEqual(["node", "cluster", "sentinel"]);
    expect(createTopology(settings({ redisHost: "h", poolSize: "3" })).connections()).toHaveLength(
      3,
    );
    expect(made[0]?.connections()).toHaveLength(1);
    for (const topology of made) expect(topology.ready).toBe(false);
    await Promise.all(made.map((topology) => topology.close()));
  });
});

describe("TLS failures", () => {
  const coded = (message: string, code: string) => Object.assign(new Error(message), { code });

  it("tells verification from handshake failures, and both from the rest", () => {
    expect(
      tlsFailure(
        coded("self-signed certificate in certificate chain", "SELF_SIGNED_CERT_IN_CHAIN"),
      ),
    ).toEqual({
      kind: "verification",
      code: "SELF_SIGNED_CERT_IN_CHAIN",
      reason: "self-signed certificate in certificate chain",
    });
    expect(
      tlsFailure(coded("Hostname/IP does not match", "ERR_TLS_CERT_ALTNAME_INVALID"))?.kind,
    ).toBe("verification");
    expect(
      tlsFailure(coded("alert certificate required", "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"))
        ?.kind,
    ).toBe("handshake");
    expect(tlsFailure(coded("connect ECONNREFUSED", "ECONNREFUSED"))).toBeUndefined();
    expect(tlsFailure(new Error("no code"))).toBeUndefined();
  });
});

describe("connection log", () => {
  function capture() {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split("\n")) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    return { lines, log: createLogger("debug", sink) };
  }

  it("says each distinct failure once per interval, with the repeats, and names TLS and auth", () => {
    const { lines, log } = capture();
    let now = 0;
    const events = new ConnectionLog(log, () => now, 30_000);
    const refused = Object.assign(new Error("self-signed certificate"), {
      code: "SELF_SIGNED_CERT_IN_CHAIN",
    });
    for (let i = 0; i < 5; i++) {
      events.error(refused);
      now += 1000;
    }
    events.error(new Error("WRONGPASS invalid username-password pair"));
    events.error(new Error("connect ECONNREFUSED 127.0.0.1:1"));
    now = 31_000;
    events.error(refused);
    events.ready();
    events.lost();

    expect(lines.map((line) => line.msg)).toEqual([
      "redis TLS verification failed",
      "redis authentication failed",
      "redis connection error",
      "redis TLS verification failed",
      "redis connection restored",
      "redis connection lost; reconnecting",
    ]);
    expect(lines[0]).toMatchObject({ level: "error", code: "SELF_SIGNED_CERT_IN_CHAIN" });
    expect(lines[1]).toMatchObject({ level: "error" });
    expect(lines[2]).toMatchObject({ level: "warn", cause: "connect ECONNREFUSED 127.0.0.1:1" });
    expect(lines[3]).toMatchObject({ repeated: 4 });
  });
});

describe("Entra ID tokens", () => {
  const jwt = (claims: unknown) =>
    ["e30", Buffer.from(JSON.stringify(claims)).toString("base64url"), "sig"].join(".");

  it("builds DefaultAzureCredential, with the user-assigned identity when azureClientID is set", async () => {
    const variants: Record<string, string>[] = [
      {},
      { azureClientID: "11111111-2222-3333-4444-555555555555" },
    ];
    for (const metadata of variants) {
      const credential = await defaultAzureCredential(
        settings({ redisHost: "h", enableTLS: "true", useEntraID: "true", ...metadata }),
      );
      expect(credential.constructor.name).toBe("DefaultAzureCredential");
      expect(typeof credential.getToken).toBe("function");
    }
  });

  it("uses the oid claim as the username", () => {
    expect(tokenObjectId(jwt({ oid: "0000-oid", aud: "x" }))).toBe("0000-oid");
    expect(() => tokenObjectId(jwt({ sub: "no oid" }))).toThrow(/no oid claim/);
    expect(() => tokenObjectId("opaque-token")).toThrow(/not a JWT/);
    expect(() => tokenObjectId("a.!!!.c")).toThrow(/not JSON/);
  });

  it("renews at three quarters of the remaining life, or when MSAL says, never in a tight loop", () => {
    expect(renewDelayMs({ token: "t", expiresOnTimestamp: 3_600_000 }, 0)).toBe(2_700_000);
    expect(
      renewDelayMs(
        { token: "t", expiresOnTimestamp: 3_600_000, refreshAfterTimestamp: 1_800_000 },
        0,
      ),
    ).toBe(1_800_000);
    expect(renewDelayMs({ token: "t", expiresOnTimestamp: 100 }, 99)).toBe(250);
    expect([1, 2, 3, 4, 5, 10].map(retryDelayMs)).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
  });
});
