import { describe, expect, it } from "vitest";
import { loadRuntimeSettings } from "../../../src/config/runtime.js";
import { ConfigError } from "../../../src/errors.js";
import { natsConnectionOptions } from "../../../src/transport/connection.js";

function runtimeError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadRuntimeSettings(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("loadRuntimeSettings", () => {
  it("has the PROTOCOL defaults", () => {
    expect(loadRuntimeSettings({})).toEqual({
      natsServers: ["nats://127.0.0.1:4222"],
      natsCredsFile: undefined,
      natsNkeySeedFile: undefined,
      natsToken: undefined,
      natsUser: undefined,
      natsPassword: undefined,
      natsTlsCaFile: undefined,
      natsTlsCertFile: undefined,
      natsTlsKeyFile: undefined,
      natsPingIntervalMs: 20_000,
      componentsPath: "./config/components",
      subjectPrefix: "bindings",
      queueGroup: "redis-binding",
      httpPort: 8080,
      maxInFlight: 1024,
      maxRequestBytes: 1_048_576,
      requestTimeoutMs: 10_000,
      shutdownGraceMs: 30_000,
      logLevel: "info",
      durable: true,
    });
  });

  it("reads every variable", () => {
    const settings = loadRuntimeSettings({
      NATS_URL: "nats://a:4222, nats://b:4222,",
      NATS_CREDS: "/creds/user.creds",
      NATS_NKEY_SEED: "/creds/seed.nk",
      NATS_TOKEN: "tok",
      NATS_USER: "user",
      NATS_PASSWORD: "pass",
      NATS_TLS_CA: "/tls/ca.pem",
      NATS_TLS_CERT: "/tls/cert.pem",
      NATS_TLS_KEY: "/tls/key.pem",
      NATS_PING_INTERVAL: "5s",
      COMPONENTS_PATH: "/etc/components",
      BINDINGS_SUBJECT_PREFIX: "svc.bindings",
      BINDINGS_QUEUE_GROUP: "workers",
      HTTP_PORT: "0",
      MAX_IN_FLIGHT: "10",
      MAX_REQUEST_BYTES: "2048",
      REQUEST_TIMEOUT: "1m30s",
      SHUTDOWN_GRACE: "500",
      LOG_LEVEL: "DEBUG",
      BINDINGS_DURABLE: "false",
    });
    expect(settings).toEqual({
      natsServers: ["nats://a:4222", "nats://b:4222"],
      natsCredsFile: "/creds/user.creds",
      natsNkeySeedFile: "/creds/seed.nk",
      natsToken: "tok",
      natsUser: "user",
      natsPassword: "pass",
      natsTlsCaFile: "/tls/ca.pem",
      natsTlsCertFile: "/tls/cert.pem",
      natsTlsKeyFile: "/tls/key.pem",
      natsPingIntervalMs: 5000,
      componentsPath: "/etc/components",
      subjectPrefix: "svc.bindings",
      queueGroup: "workers",
      httpPort: 0,
      maxInFlight: 10,
      maxRequestBytes: 2048,
      requestTimeoutMs: 90_000,
      shutdownGraceMs: 500,
      logLevel: "debug",
      durable: false,
    });
  });

  it("treats empty variables as unset", () => {
    const settings = loadRuntimeSettings({ NATS_URL: "", HTTP_PORT: "", NATS_TOKEN: "" });
    expect(settings.natsServers).toEqual(["nats://127.0.0.1:4222"]);
    expect(settings.httpPort).toBe(8080);
    expect(settings.natsToken).toBeUndefined();
  });

  it("takes REQUEST_TIMEOUT in milliseconds or as a Go duration", () => {
    expect(loadRuntimeSettings({ REQUEST_TIMEOUT: "2500" }).requestTimeoutMs).toBe(2500);
    expect(loadRuntimeSettings({ REQUEST_TIMEOUT: "2.5s" }).requestTimeoutMs).toBe(2500);
    expect(loadRuntimeSettings({ SHUTDOWN_GRACE: "0" }).shutdownGraceMs).toBe(0);
  });

  it("takes NATS_PING_INTERVAL in milliseconds or as a Go duration", () => {
    expect(loadRuntimeSettings({ NATS_PING_INTERVAL: "1s" }).natsPingIntervalMs).toBe(1000);
    expect(loadRuntimeSettings({ NATS_PING_INTERVAL: "1m30s" }).natsPingIntervalMs).toBe(90_000);
    expect(loadRuntimeSettings({ NATS_PING_INTERVAL: "750" }).natsPingIntervalMs).toBe(750);
    expect(loadRuntimeSettings({ NATS_PING_INTERVAL: " 2.5s " }).natsPingIntervalMs).toBe(2500);
    expect(loadRuntimeSettings({ NATS_PING_INTERVAL: "24h" }).natsPingIntervalMs).toBe(86_400_000);
    expect(loadRuntimeSettings({ NATS_PING_INTERVAL: "" }).natsPingIntervalMs).toBe(20_000);
  });

  it("hands NATS_PING_INTERVAL to the NATS client, with two PINGs out allowed", () => {
    const options = natsConnectionOptions(loadRuntimeSettings({ NATS_PING_INTERVAL: "7s" }), "t");
    expect(options).toMatchObject({ pingInterval: 7000, maxPingOut: 2 });
    expect(natsConnectionOptions(loadRuntimeSettings({}), "t").pingInterval).toBe(20_000);
  });

  it("is frozen", () => {
    const settings = loadRuntimeSettings({});
    expect(Object.isFrozen(settings)).toBe(true);
    expect(Object.isFrozen(settings.natsServers)).toBe(true);
  });

  it.each([
    ["HTTP_PORT", "http", /invalid integer/],
    ["HTTP_PORT", "65536", /at most 65535/],
    ["HTTP_PORT", "-1", /at least 0/],
    ["MAX_IN_FLIGHT", "0", /at least 1/],
    ["MAX_IN_FLIGHT", "lots", /invalid integer/],
    ["MAX_REQUEST_BYTES", "1MB", /invalid integer/],
    ["REQUEST_TIMEOUT", "0", /greater than zero/],
    ["REQUEST_TIMEOUT", "10 seconds", /invalid duration/],
    ["REQUEST_TIMEOUT", "-1s", /negative/],
    ["SHUTDOWN_GRACE", "forever", /invalid duration/],
    ["NATS_PING_INTERVAL", "0", /greater than zero/],
    ["NATS_PING_INTERVAL", "0s", /greater than zero/],
    ["NATS_PING_INTERVAL", "-5s", /negative/],
    ["NATS_PING_INTERVAL", "20 s", /invalid duration/],
    ["NATS_PING_INTERVAL", "often", /invalid duration/],
    // Beyond Node's timer limit a timeout fires after 1 ms: a ping storm.
    ["NATS_PING_INTERVAL", "25h", /at most 24h/],
    ["NATS_PING_INTERVAL", "9999999999", /at most 24h/],
    ["LOG_LEVEL", "verbose", /must be one of/],
    ["BINDINGS_SUBJECT_PREFIX", "a..b", /subject/],
    ["BINDINGS_SUBJECT_PREFIX", "bindings.*", /subject/],
    ["BINDINGS_QUEUE_GROUP", "my group", /spaces/],
    ["NATS_URL", " , ", /names no server/],
    ["NATS_URL", "nats://a:4222 nats://b:4222", /whitespace/],
    ["NATS_PASSWORD", "secret", /without NATS_USER/],
    ["NATS_TLS_CERT", "/tls/cert.pem", /NATS_TLS_CERT/],
  ])("refuses %s=%j", (name, value, reason) => {
    const error = runtimeError({ [name]: value });
    expect(error.file).toBe("environment");
    expect(error.message).toMatch(reason);
    expect(error.message).toMatch(/^environment, field "[A-Z_]+": /);
  });

  it("names the variable and never its value", () => {
    const error = runtimeError({ REQUEST_TIMEOUT: "hunter2" });
    expect(error.field).toBe("REQUEST_TIMEOUT");
    expect(error.message).toContain('field "REQUEST_TIMEOUT"');
    expect(error.message).not.toContain("hunter2");
    const password = runtimeError({ NATS_PASSWORD: "hunter2" });
    expect(password.field).toBe("NATS_PASSWORD");
    expect(password.message).not.toContain("hunter2");
  });

  it("reads BINDINGS_DURABLE as a boolean and names it when it is not one", () => {
    expect(loadRuntimeSettings({ BINDINGS_DURABLE: "F" }).durable).toBe(false);
    expect(loadRuntimeSettings({ BINDINGS_DURABLE: "1" }).durable).toBe(true);
    expect(runtimeError({ BINDINGS_DURABLE: "sometimes" }).field).toBe("BINDINGS_DURABLE");
  });

  it("needs NATS_TLS_KEY with NATS_TLS_CERT and the reverse", () => {
    expect(runtimeError({ NATS_TLS_CERT: "c" }).field).toBe("NATS_TLS_KEY");
    expect(runtimeError({ NATS_TLS_KEY: "k" }).field).toBe("NATS_TLS_CERT");
  });
});
