/**
 * Process-wide settings from the environment (PROTOCOL section 7). An empty
 * variable counts as unset, as shells and compose files often leave them.
 * Values are never quoted in errors: several of these hold credentials.
 */
import { ConfigError } from "../errors.js";
import { parseBool, parseDurationOrMs, parseInteger, ValueFormatError } from "./duration.js";
import type { RuntimeSettings } from "./settings.js";

const SOURCE = "environment";

export const LOG_LEVELS: ReadonlySet<string> = new Set([
  "fatal",
  "error",
  "warn",
  "info",
  "debug",
  "trace",
  "silent",
]);

export const RUNTIME_DEFAULTS = Object.freeze({
  natsServers: Object.freeze(["nats://127.0.0.1:4222"]),
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

const SUBJECT_TOKEN = /^[^\s.*>]+$/;

export function loadRuntimeSettings(env: NodeJS.ProcessEnv = process.env): RuntimeSettings {
  const read = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === "" ? undefined : value;
  };
  const fail = (name: string, reason: string): never => {
    throw new ConfigError(SOURCE, undefined, name, reason);
  };
  const integer = (name: string, fallback: number, min: number, max?: number): number => {
    const text = read(name);
    if (text === undefined) return fallback;
    try {
      return parseInteger(text, max === undefined ? { min } : { min, max });
    } catch (error) {
      if (!(error instanceof ValueFormatError)) throw error;
      return fail(name, error.message);
    }
  };
  const duration = (
    name: string,
    fallback: number,
    allowZero: boolean,
    max?: { ms: number; text: string },
  ): number => {
    const text = read(name);
    if (text === undefined) return fallback;
    let ms: number;
    try {
      ms = parseDurationOrMs(text);
    } catch (error) {
      if (!(error instanceof ValueFormatError)) throw error;
      return fail(name, `${error.message}; expected a Go duration ("10s") or milliseconds`);
    }
    if (ms === 0 && !allowZero) fail(name, "must be greater than zero");
    if (max !== undefined && ms > max.ms) fail(name, `must be at most ${max.text}`);
    return ms;
  };
  const path = (name: string): string | undefined => read(name)?.trim();
  const bool = (name: string, fallback: boolean): boolean => {
    const text = read(name);
    if (text === undefined) return fallback;
    try {
      return parseBool(text);
    } catch (error) {
      if (!(error instanceof ValueFormatError)) throw error;
      return fail(name, error.message);
    }
  };

  const natsUrl = read("NATS_URL");
  const natsServers =
    natsUrl === undefined
      ? RUNTIME_DEFAULTS.natsServers
      : natsUrl
          .split(",")
          .map((server) => server.trim())
          .filter((server) => server !== "");
  if (natsServers.length === 0) fail("NATS_URL", "names no server");
  if (natsServers.some((server) => /\s/.test(server))) {
    fail("NATS_URL", "a server address contains whitespace; separate servers with commas");
  }

  const natsUser = read("NATS_USER");
  const natsPassword = read("NATS_PASSWORD");
  if (natsPassword !== undefined && natsUser === undefined) {
    fail("NATS_PASSWORD", "is set without NATS_USER");
  }
  const natsTlsCertFile = path("NATS_TLS_CERT");
  const natsTlsKeyFile = path("NATS_TLS_KEY");
  if (natsTlsCertFile !== undefined && natsTlsKeyFile === undefined) {
    fail("NATS_TLS_KEY", "is required when NATS_TLS_CERT is set");
  }
  if (natsTlsKeyFile !== undefined && natsTlsCertFile === undefined) {
    fail("NATS_TLS_CERT", "is required when NATS_TLS_KEY is set");
  }

  const subjectPrefix = read("BINDINGS_SUBJECT_PREFIX")?.trim() ?? RUNTIME_DEFAULTS.subjectPrefix;
  if (!subjectPrefix.split(".").every((token) => SUBJECT_TOKEN.test(token))) {
    fail(
      "BINDINGS_SUBJECT_PREFIX",
      "must be a NATS subject of dot-separated tokens without spaces, '*' or '>'",
    );
  }
  const queueGroup = read("BINDINGS_QUEUE_GROUP")?.trim() ?? RUNTIME_DEFAULTS.queueGroup;
  if (/[\s*>]/.test(queueGroup)) {
    fail("BINDINGS_QUEUE_GROUP", "must not contain spaces, '*' or '>'");
  }

  const logLevel = read("LOG_LEVEL")?.trim().toLowerCase() ?? RUNTIME_DEFAULTS.logLevel;
  if (!LOG_LEVELS.has(logLevel)) {
    fail("LOG_LEVEL", `must be one of ${[...LOG_LEVELS].join(", ")}`);
  }

  return Object.freeze({
    natsServers: Object.freeze([...natsServers]),
    natsCredsFile: path("NATS_CREDS"),
    natsNkeySeedFile: path("NATS_NKEY_SEED"),
    natsToken: read("NATS_TOKEN"),
    natsUser,
    natsPassword,
    natsTlsCaFile: path("NATS_TLS_CA"),
    natsTlsCertFile,
    natsTlsKeyFile,
    // Capped: a timer beyond 2^31-1 ms fires after 1 ms in Node, which would
    // turn a "ping rarely" setting into a ping storm and reconnect loop.
    natsPingIntervalMs: duration("NATS_PING_INTERVAL", RUNTIME_DEFAULTS.natsPingIntervalMs, false, {
      ms: 86_400_000,
      text: "24h",
    }),
    componentsPath: path("COMPONENTS_PATH") ?? RUNTIME_DEFAULTS.componentsPath,
    subjectPrefix,
    queueGroup,
    httpPort: integer("HTTP_PORT", RUNTIME_DEFAULTS.httpPort, 0, 65535),
    maxInFlight: integer("MAX_IN_FLIGHT", RUNTIME_DEFAULTS.maxInFlight, 1),
    maxRequestBytes: integer("MAX_REQUEST_BYTES", RUNTIME_DEFAULTS.maxRequestBytes, 1),
    requestTimeoutMs: duration("REQUEST_TIMEOUT", RUNTIME_DEFAULTS.requestTimeoutMs, false),
    shutdownGraceMs: duration("SHUTDOWN_GRACE", RUNTIME_DEFAULTS.shutdownGraceMs, true),
    logLevel,
    durable: bool("BINDINGS_DURABLE", RUNTIME_DEFAULTS.durable),
  });
}
