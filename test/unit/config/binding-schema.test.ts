import { describe, expect, it } from "vitest";
import {
  BINDING_FIELDS,
  type MetadataEntry,
  parseAddresses,
  parseBindingSettings,
} from "../../../src/config/binding-schema.js";
import { ConfigError } from "../../../src/errors.js";

const FILE = "components/cache.yaml";
const CERT = "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIBkey\n-----END PRIVATE KEY-----\n";

function parse(metadata: Record<string, string>, concealed: readonly string[] = []) {
  const entries: MetadataEntry[] = Object.entries(metadata).map(([name, value]) => ({
    name,
    value,
    concealed: concealed.includes(name),
  }));
  return parseBindingSettings({ file: FILE, name: "cache", metadata: entries });
}

function settingsOf(metadata: Record<string, string>) {
  return parse({ redisHost: "localhost:6379", ...metadata }).settings;
}

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

function expectFieldError(metadata: Record<string, string>, field: string, reason: RegExp) {
  const error = configError(() => parse(metadata));
  expect(error.file).toBe(FILE);
  expect(error.component).toBe("cache");
  expect(error.field).toBe(field);
  expect(error.message).toContain(FILE);
  expect(error.message).toContain('component "cache"');
  expect(error.message).toContain(`field "${field}"`);
  expect(error.reason).toMatch(reason);
  return error;
}

describe("defaults", () => {
  it("follows the seed for every field left out", () => {
    const { settings, warnings } = parse({ redisHost: "localhost:6379" });
    expect(warnings).toEqual([]);
    expect(settings).toMatchObject({
      name: "cache",
      file: FILE,
      redisHost: "localhost:6379",
      addresses: [{ host: "localhost", port: 6379 }],
      redisType: "node",
      redisDB: 0,
      redisUsername: undefined,
      redisPassword: undefined,
      enableTLS: false,
      insecureSkipTLSVerify: false,
      clientCert: undefined,
      clientKey: undefined,
      useEntraID: false,
      azureClientID: undefined,
      failover: false,
      sentinelMasterName: undefined,
      sentinelUsername: undefined,
      sentinelPassword: undefined,
      redeliverIntervalMs: 60_000,
      processingTimeoutMs: 15_000,
      maxDeliveries: 5,
      redisMaxRetries: 0,
      redisMinRetryIntervalMs: 8,
      redisMaxRetryIntervalMs: 512,
      dialTimeoutMs: 5_000,
      readTimeoutMs: 3_000,
      writeTimeoutMs: 3_000,
      poolSize: 1,
      poolTimeoutMs: 4_000,
      maxConnAgeMs: undefined,
      minIdleConns: 0,
      idleCheckFrequencyMs: 60_000,
      idleTimeoutMs: 300_000,
    });
    expect([...settings.explicitFields]).toEqual(["redisHost"]);
  });

  it("treats an empty value as unset", () => {
    const settings = settingsOf({
      readTimeout: "",
      redisPassword: "",
      enableTLS: "",
      poolSize: "",
    });
    expect(settings.readTimeoutMs).toBe(3_000);
    expect(settings.redisPassword).toBeUndefined();
    expect(settings.enableTLS).toBe(false);
    expect(settings.poolSize).toBe(1);
  });
});

describe("every field", () => {
  it("is read when given", () => {
    const settings = settingsOf({
      redisHost: "a.example:7000, b.example",
      redisPort: "7001",
      redisUsername: "app",
      redisPassword: " p@ss word ",
      enableTLS: "true",
      insecureSkipTLSVerify: "T",
      clientCert: CERT,
      clientKey: KEY,
      failover: "1",
      sentinelMasterName: "mymaster",
      sentinelUsername: "sentinel-user",
      sentinelPassword: "sentinel-pass",
      redeliverInterval: "30s",
      processingTimeout: "1m30s",
      redisType: "cluster",
      redisDB: "0",
      redisMaxRetries: "5",
      redisMinRetryInterval: "16ms",
      redisMaxRetryInterval: "5s",
      dialTimeout: "2s",
      readTimeout: "4s",
      writeTimeout: "6s",
      poolSize: "20",
      poolTimeout: "7s",
      maxConnAge: "30m",
      minIdleConns: "2",
      idleCheckFrequency: "2m",
      idleTimeout: "10m",
      azureClientID: "client-id",
      caCert: CERT,
      maxDeliveries: "7",
    });
    expect(settings).toMatchObject({
      redisHost: "a.example:7000, b.example",
      addresses: [
        { host: "a.example", port: 7000 },
        { host: "b.example", port: 7001 },
      ],
      redisUsername: "app",
      redisPassword: " p@ss word ",
      enableTLS: true,
      insecureSkipTLSVerify: true,
      clientCert: CERT,
      clientKey: KEY,
      failover: true,
      sentinelMasterName: "mymaster",
      sentinelUsername: "sentinel-user",
      sentinelPassword: "sentinel-pass",
      redeliverIntervalMs: 30_000,
      processingTimeoutMs: 90_000,
      maxDeliveries: 7,
      redisType: "cluster",
      redisDB: 0,
      redisMaxRetries: 5,
      redisMinRetryIntervalMs: 16,
      redisMaxRetryIntervalMs: 5_000,
      dialTimeoutMs: 2_000,
      readTimeoutMs: 4_000,
      writeTimeoutMs: 6_000,
      poolSize: 20,
      poolTimeoutMs: 7_000,
      maxConnAgeMs: 1_800_000,
      minIdleConns: 2,
      idleCheckFrequencyMs: 120_000,
      idleTimeoutMs: 600_000,
      azureClientID: "client-id",
      caCert: CERT,
    });
    expect([...settings.explicitFields].sort()).toEqual(
      BINDING_FIELDS.filter((field) => field !== "useEntraID").sort(),
    );
  });

  it("reads useEntraID with TLS and without credentials", () => {
    const settings = settingsOf({ useEntraID: "true", enableTLS: "true" });
    expect(settings.useEntraID).toBe(true);
  });

  it("accepts Dapr's alias useAzureAD and names in any case", () => {
    const settings = parse({
      RedisHost: "h:1",
      useAzureAD: "true",
      ENABLETLS: "true",
      redisdb: "3",
    }).settings;
    expect(settings.useEntraID).toBe(true);
    expect(settings.enableTLS).toBe(true);
    expect(settings.redisDB).toBe(3);
    expect([...settings.explicitFields].sort()).toEqual(
      ["enableTLS", "redisDB", "redisHost", "useEntraID"].sort(),
    );
  });

  it("reads redisType in any case", () => {
    expect(settingsOf({ redisType: "Cluster" }).redisType).toBe("cluster");
    expect(settingsOf({ redisType: "node" }).redisType).toBe("node");
  });
});

describe("durations", () => {
  it.each([
    ["8ms", 8],
    ["30s", 30_000],
    ["1m30s", 90_000],
    ["250", 250],
  ])("reads %s", (text, ms) => {
    expect(settingsOf({ dialTimeout: text }).dialTimeoutMs).toBe(ms);
    expect(settingsOf({ readTimeout: text }).readTimeoutMs).toBe(ms);
    expect(settingsOf({ redeliverInterval: text }).redeliverIntervalMs).toBe(ms);
  });

  it('"0" means disabled for redeliverInterval and processingTimeout', () => {
    const settings = settingsOf({ redeliverInterval: "0", processingTimeout: "0s" });
    expect(settings.redeliverIntervalMs).toBe(0);
    expect(settings.processingTimeoutMs).toBe(0);
  });

  it('reads maxDeliveries as a count of at least 1; "0" means the default of 5', () => {
    expect(settingsOf({ maxDeliveries: "3" }).maxDeliveries).toBe(3);
    expect(settingsOf({ maxDeliveries: "0" }).maxDeliveries).toBe(5);
    expect(settingsOf({ MaxDeliveries: "1" }).maxDeliveries).toBe(1);
    expect(configError(() => parse({ redisHost: "h", maxDeliveries: "-1" })).field).toBe(
      "maxDeliveries",
    );
    expect(configError(() => parse({ redisHost: "h", maxDeliveries: "many" })).field).toBe(
      "maxDeliveries",
    );
  });

  it('"-1" also disables redelivery', () => {
    const settings = settingsOf({ redeliverInterval: "-1", processingTimeout: "-1" });
    expect(settings.redeliverIntervalMs).toBe(0);
    expect(settings.processingTimeoutMs).toBe(0);
  });

  it('"0" means the default for the connection settings', () => {
    const settings = settingsOf({
      redisMinRetryInterval: "0",
      redisMaxRetryInterval: "0",
      dialTimeout: "0",
      readTimeout: "0",
      writeTimeout: "0",
      poolTimeout: "0",
      maxConnAge: "0",
      idleCheckFrequency: "0",
      idleTimeout: "0",
    });
    expect(settings).toMatchObject({
      redisMinRetryIntervalMs: 8,
      redisMaxRetryIntervalMs: 512,
      dialTimeoutMs: 5_000,
      readTimeoutMs: 3_000,
      writeTimeoutMs: 3_000,
      poolTimeoutMs: 4_000,
      maxConnAgeMs: undefined,
      idleCheckFrequencyMs: 60_000,
      idleTimeoutMs: 300_000,
    });
  });

  it('"-1" disables backoff, timeouts and the reaper', () => {
    const settings = settingsOf({
      redisMinRetryInterval: "-1",
      redisMaxRetryInterval: "-1",
      readTimeout: "-1",
      poolTimeout: "-1",
      maxConnAge: "-1",
      idleCheckFrequency: "-1",
      idleTimeout: "-1",
    });
    expect(settings).toMatchObject({
      redisMinRetryIntervalMs: 0,
      redisMaxRetryIntervalMs: 0,
      readTimeoutMs: undefined,
      writeTimeoutMs: undefined,
      poolTimeoutMs: undefined,
      maxConnAgeMs: undefined,
      idleCheckFrequencyMs: undefined,
      idleTimeoutMs: undefined,
    });
  });

  it("derives writeTimeout and poolTimeout from readTimeout", () => {
    const settings = settingsOf({ readTimeout: "2s" });
    expect(settings.writeTimeoutMs).toBe(2_000);
    expect(settings.poolTimeoutMs).toBe(3_000);
    const noRead = settingsOf({ readTimeout: "-1" });
    expect(noRead.writeTimeoutMs).toBeUndefined();
    // go-redis v9's choice when reads never time out.
    expect(noRead.poolTimeoutMs).toBe(30_000);
    expect(settingsOf({ readTimeout: "-1", writeTimeout: "1s" }).writeTimeoutMs).toBe(1_000);
    expect(settingsOf({ writeTimeout: "-1" }).writeTimeoutMs).toBeUndefined();
  });

  it("rejects a bad duration, naming the field and the value", () => {
    const error = expectFieldError(
      { redisHost: "h", readTimeout: "3 seconds" },
      "readTimeout",
      /invalid duration/,
    );
    expect(error.message).toContain('"3 seconds"');
  });

  it.each(["-2", "-5s", "1d", "fast"])("rejects %j", (text) => {
    expectFieldError({ redisHost: "h", idleTimeout: text }, "idleTimeout", /invalid duration/);
  });

  it("refuses to disable dialTimeout", () => {
    expectFieldError({ redisHost: "h", dialTimeout: "-1" }, "dialTimeout", /cannot be disabled/);
  });
});

describe("integers", () => {
  it('reads redisMaxRetries, with "-1" as none', () => {
    expect(settingsOf({ redisMaxRetries: "3" }).redisMaxRetries).toBe(3);
    expect(settingsOf({ redisMaxRetries: "-1" }).redisMaxRetries).toBe(0);
    expect(settingsOf({ redisMaxRetries: "0" }).redisMaxRetries).toBe(0);
  });

  it("keeps one pipelined connection unless poolSize asks for more", () => {
    expect(settingsOf({ poolSize: "0" }).poolSize).toBe(1);
    expect(settingsOf({ poolSize: "4" }).poolSize).toBe(4);
  });

  it.each([
    ["redisDB", "one"],
    ["redisDB", "-1"],
    ["redisMaxRetries", "-2"],
    ["poolSize", "1.5"],
    ["poolSize", "-1"],
    ["minIdleConns", "x"],
    ["redisPort", "70000"],
    ["redisPort", "port"],
  ])("rejects %s = %j", (field, value) => {
    expectFieldError({ redisHost: "h", [field]: value }, field, /invalid integer/);
  });
});

describe("booleans", () => {
  it.each(["enableTLS", "failover", "useEntraID", "insecureSkipTLSVerify"])(
    "rejects a bad %s",
    (field) => {
      expectFieldError({ redisHost: "h", [field]: "yes" }, field, /invalid boolean/);
    },
  );

  it("reads every spelling", () => {
    for (const word of ["true", "TRUE", "t", "T", "1"]) {
      expect(settingsOf({ enableTLS: word }).enableTLS).toBe(true);
    }
    for (const word of ["false", "False", "f", "F", "0"]) {
      expect(settingsOf({ enableTLS: word }).enableTLS).toBe(false);
    }
  });
});

describe("addresses", () => {
  it("splits, trims and applies redisPort or 6379", () => {
    expect(parseAddresses("a, b:7000 ,c").addresses).toEqual([
      { host: "a", port: 6379 },
      { host: "b", port: 7000 },
      { host: "c", port: 6379 },
    ]);
    expect(parseAddresses("a,b", 7001).addresses).toEqual([
      { host: "a", port: 7001 },
      { host: "b", port: 7001 },
    ]);
  });

  it("reads IPv6 literals", () => {
    expect(parseAddresses("[::1]:6380,[fe80::1],::1").addresses).toEqual([
      { host: "::1", port: 6380 },
      { host: "fe80::1", port: 6379 },
      { host: "::1", port: 6379 },
    ]);
  });

  it("lets an explicit port win over redisPort, with a warning", () => {
    const { settings, warnings } = parse({
      redisHost: "a:7000,b",
      redisPort: "7001",
      redisType: "cluster",
    });
    expect(settings.addresses).toEqual([
      { host: "a", port: 7000 },
      { host: "b", port: 7001 },
    ]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('field "redisPort"');
    expect(warnings[0]).toContain('"a:7000"');
    expect(parse({ redisHost: "a:7001", redisPort: "7001" }).warnings).toEqual([]);
  });

  it.each(["a,,b", "a:", "a:port", "a:0", "a:65536", "[::1", "[::1]x", ":6379"])(
    "rejects %j",
    (redisHost) => {
      expectFieldError({ redisHost }, "redisHost", /address/);
    },
  );

  it("requires redisHost", () => {
    expectFieldError({}, "redisHost", /is required/);
    expectFieldError({ redisHost: "" }, "redisHost", /is required/);
    expectFieldError({ redisHost: "   " }, "redisHost", /is required/);
  });
});

describe("cross-field rules", () => {
  it("rejects an unknown redisType", () => {
    const error = expectFieldError(
      { redisHost: "h", redisType: "sentinel" },
      "redisType",
      /unknown redisType/,
    );
    expect(error.message).toContain('"sentinel"');
  });

  it("needs sentinelMasterName with failover", () => {
    expectFieldError(
      { redisHost: "h", failover: "true" },
      "sentinelMasterName",
      /required when failover is true/,
    );
  });

  it("refuses useEntraID with redisUsername or redisPassword", () => {
    expectFieldError(
      { redisHost: "h", enableTLS: "true", useEntraID: "true", redisUsername: "u" },
      "useEntraID",
      /redisUsername/,
    );
    expectFieldError(
      { redisHost: "h", enableTLS: "true", useEntraID: "true", redisPassword: "p" },
      "useEntraID",
      /redisPassword/,
    );
  });

  it("needs enableTLS with useEntraID", () => {
    expectFieldError({ redisHost: "h", useEntraID: "true" }, "useEntraID", /enableTLS/);
    expectFieldError(
      { redisHost: "h", useEntraID: "true", enableTLS: "false" },
      "useEntraID",
      /enableTLS/,
    );
  });

  it("needs clientCert and clientKey together", () => {
    expectFieldError(
      { redisHost: "h", enableTLS: "true", clientCert: CERT },
      "clientKey",
      /required when clientCert/,
    );
    expectFieldError(
      { redisHost: "h", enableTLS: "true", clientKey: KEY },
      "clientCert",
      /required when clientKey/,
    );
  });

  it("wants PEM content, not a file name", () => {
    expectFieldError(
      { redisHost: "h", enableTLS: "true", clientCert: "/etc/cert.pem", clientKey: KEY },
      "clientCert",
      /PEM/,
    );
  });

  it("names the field as written", () => {
    expectFieldError({ redishost: "h", READTIMEOUT: "x" }, "READTIMEOUT", /invalid duration/);
  });

  it("refuses a field given twice", () => {
    const error = configError(() =>
      parseBindingSettings({
        file: FILE,
        name: "cache",
        metadata: [
          { name: "redisHost", value: "a" },
          { name: "redishost", value: "b" },
        ],
      }),
    );
    expect(error.field).toBe("redisHost");
    expect(error.reason).toMatch(/more than once/);
  });
});

describe("secrets in messages", () => {
  const SECRET = "s3cr3t-Value-42";

  it("never quotes a secret field", () => {
    const error = configError(() =>
      parse({ redisHost: "h", sentinelPassword: SECRET, failover: "true" }),
    );
    expect(error.message).not.toContain(SECRET);
    const pemError = configError(() =>
      parse({ redisHost: "h", clientKey: SECRET, clientCert: CERT, enableTLS: "true" }),
    );
    expect(pemError.field).toBe("clientKey");
    expect(pemError.message).not.toContain(SECRET);
  });

  it("never quotes a value that came from a secret store or the environment", () => {
    const error = configError(() =>
      parse({ redisHost: "h", readTimeout: SECRET }, ["readTimeout"]),
    );
    expect(error.field).toBe("readTimeout");
    expect(error.message).not.toContain(SECRET);
    const hostError = configError(() => parse({ redisHost: `${SECRET}:x` }, ["redisHost"]));
    expect(hostError.message).not.toContain(SECRET);
  });

  it("keeps a concealed host out of warnings", () => {
    const { warnings } = parse({ redisHost: `${SECRET}:7000`, redisPort: "7001" }, ["redisHost"]);
    expect(warnings).toHaveLength(1);
    expect(warnings.join("\n")).not.toContain(SECRET);
  });
});

describe("warnings", () => {
  it("lists unknown metadata without failing", () => {
    const { warnings } = parse({ redisHost: "h", queueDepth: "10", colour: "blue" });
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('field "queueDepth"');
    expect(warnings[0]).toContain(FILE);
    expect(warnings[1]).toContain('field "colour"');
  });

  it("accepts Dapr's direction field", () => {
    expect(parse({ redisHost: "h", direction: "output" }).warnings).toEqual([]);
    expect(parse({ redisHost: "h", direction: "input" }).warnings).toHaveLength(1);
  });

  it("notes settings that have no effect", () => {
    const { warnings } = parse({
      redisHost: "h",
      insecureSkipTLSVerify: "true",
      sentinelMasterName: "m",
      redisType: "cluster",
      redisDB: "2",
    });
    expect(warnings.some((line) => line.includes('"insecureSkipTLSVerify"'))).toBe(true);
    expect(warnings.some((line) => line.includes('"sentinelMasterName"'))).toBe(true);
    expect(warnings.some((line) => line.includes('"redisDB"'))).toBe(true);
  });

  it("names each pool setting ioredis cannot honour, only when it is set", () => {
    const fields = ["writeTimeout", "poolTimeout", "minIdleConns", "maxConnAge"];
    const more = { idleCheckFrequency: "1m", idleTimeout: "5m" };
    const { warnings } = parse({
      redisHost: "h",
      writeTimeout: "1s",
      poolTimeout: "2s",
      minIdleConns: "2",
      maxConnAge: "30m",
      ...more,
      poolSize: "4",
    });
    for (const field of [...fields, ...Object.keys(more)]) {
      const line = warnings.find((text) => text.includes(`field "${field}"`));
      expect(line, field).toMatch(/no ioredis equivalent/);
    }
    // poolSize is honoured in node mode: no warning.
    expect(warnings.some((line) => line.includes('"poolSize"'))).toBe(false);
    expect(warnings).toHaveLength(6);
  });

  it("notes what a topology ignores", () => {
    const cluster = parse({ redisHost: "a,b", redisType: "cluster", poolSize: "3" }).warnings;
    expect(cluster).toHaveLength(1);
    expect(cluster[0]).toMatch(/"poolSize".*one connection per cluster node/);
    const node = parse({ redisHost: "a,b" }).warnings;
    expect(node).toHaveLength(1);
    expect(node[0]).toMatch(/"redisHost".*2 addresses.*first/);
    const sentinel = parse({
      redisHost: "a,b",
      failover: "true",
      sentinelMasterName: "m",
      redisType: "cluster",
    }).warnings;
    expect(sentinel).toHaveLength(1);
    expect(sentinel[0]).toMatch(/"redisType".*Sentinel/);
    expect(parse({ redisHost: "h", azureClientID: "x" }).warnings[0]).toMatch(/useEntraID/);
    expect(parse({ redisHost: "h", caCert: CERT }).warnings[0]).toMatch(/"caCert".*enableTLS/);
  });

  it("never quotes caCert in an error", () => {
    const error = expectFieldError(
      { redisHost: "h", enableTLS: "true", caCert: "/etc/ssl/ca.pem" },
      "caCert",
      /PEM-encoded CA certificate/,
    );
    expect(error.message).not.toContain("/etc/ssl/ca.pem");
  });
});

describe("immutability", () => {
  it("returns deeply frozen settings", () => {
    const { settings } = parse({ redisHost: "a,b" });
    expect(Object.isFrozen(settings)).toBe(true);
    expect(Object.isFrozen(settings.addresses)).toBe(true);
    expect(Object.isFrozen(settings.addresses[0])).toBe(true);
    expect(Object.isFrozen(settings.explicitFields)).toBe(true);
    const fields = settings.explicitFields as Set<string>;
    expect(() => fields.add("x")).toThrow(TypeError);
    expect(() => fields.delete("redisHost")).toThrow(TypeError);
    expect(() => fields.clear()).toThrow(TypeError);
    expect(settings.explicitFields.has("redisHost")).toBe(true);
    expect(() => {
      (settings as { redisDB: number }).redisDB = 5;
    }).toThrow(TypeError);
  });
});
