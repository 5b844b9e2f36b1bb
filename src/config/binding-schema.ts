/**
 * A `bindings.redis` component's metadata (values already resolved to strings)
 * to frozen `RedisBindingSettings`, with the seed's defaults and the upstream
 * component's extra fields. All interpretation of strings happens here, once.
 */
import { z } from "zod";
import { ConfigError } from "../errors.js";
import {
  type DurationSetting,
  parseBool,
  parseDurationSetting,
  parseInteger,
  ValueFormatError,
} from "./duration.js";
import { effectWarnings } from "./effect-warnings.js";
import {
  type HostPort,
  type RedisBindingSettings,
  type RedisType,
  SECRET_FIELDS,
} from "./settings.js";

/** The seed table first, then the upstream additions; errors are reported in this order. */
export const BINDING_FIELDS = [
  "redisHost",
  "redisPassword",
  "redisUsername",
  "useEntraID",
  "enableTLS",
  "failover",
  "sentinelMasterName",
  "redeliverInterval",
  "processingTimeout",
  "redisType",
  "redisDB",
  "redisMaxRetries",
  "redisMinRetryInterval",
  "redisMaxRetryInterval",
  "dialTimeout",
  "readTimeout",
  "writeTimeout",
  "poolSize",
  "poolTimeout",
  "maxConnAge",
  "minIdleConns",
  "idleCheckFrequency",
  "idleTimeout",
  "redisPort",
  "sentinelUsername",
  "sentinelPassword",
  "insecureSkipTLSVerify",
  "clientCert",
  "clientKey",
  "azureClientID",
  // Not a Dapr field: a PEM CA to verify the server with, for private CAs
  // (Dapr only trusts the system store). Dapr ignores unknown metadata, so a
  // component using it still loads there.
  "caCert",
  // Not a Dapr field: how many times a durable request is delivered before it
  // goes to the dead-letter subject (PROTOCOL section 6).
  "maxDeliveries",
] as const;

export type BindingField = (typeof BINDING_FIELDS)[number];

/** Names Dapr accepts for the same field (its `mapstructurealiases`). */
const ALIASES: Readonly<Record<string, BindingField>> = { useazuread: "useEntraID" };

/** Dapr's generic binding metadata: understood, but not a Redis setting. */
const DIRECTION = "direction";

const FIELD_BY_LOWER: ReadonlyMap<string, BindingField> = new Map([
  ...BINDING_FIELDS.map((field) => [field.toLowerCase(), field] as const),
  ...Object.entries(ALIASES),
]);

export const DEFAULT_REDIS_PORT = 6379;

const DEFAULTS = {
  redeliverIntervalMs: 60_000,
  processingTimeoutMs: 15_000,
  maxDeliveries: 5,
  redisMinRetryIntervalMs: 8,
  redisMaxRetryIntervalMs: 512,
  dialTimeoutMs: 5_000,
  readTimeoutMs: 3_000,
  idleCheckFrequencyMs: 60_000,
  idleTimeoutMs: 300_000,
  /** go-redis v9's pool timeout when reads have no timeout (readTimeout + 1s would be 1s). */
  poolTimeoutWithoutReadTimeoutMs: 30_000,
} as const;

/** A field whose text failed to parse; the reason never quotes the text. */
type Parser<T> = (text: string) => T;

function parsed<T>(parse: Parser<T>) {
  return z
    .string()
    .optional()
    .transform((text, ctx): T | undefined => {
      if (text === undefined || text.trim() === "") return undefined;
      try {
        return parse(text);
      } catch (error) {
        if (!(error instanceof ValueFormatError)) throw error;
        ctx.addIssue({ code: "custom", message: error.message, params: { shown: text } });
        return z.NEVER;
      }
    });
}

// Strings are kept verbatim (a password may well start with a space); only an
// empty value counts as unset.
const text = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value === "" ? undefined : value));

const pem = (what: string) =>
  text.superRefine((value, ctx) => {
    if (value !== undefined && !value.includes("-----BEGIN")) {
      ctx.addIssue({
        code: "custom",
        message: `must be the PEM-encoded ${what} itself (-----BEGIN ...), not a file name`,
      });
    }
  });

const bool = parsed(parseBool);

const duration = parsed(parseDurationSetting);

const durationNotDisabled = parsed((value) => {
  const setting = parseDurationSetting(value);
  if (setting.kind === "disabled") {
    throw new ValueFormatError('cannot be disabled; use "0" for the default');
  }
  return setting;
});

const integer = (min: number, max?: number) =>
  parsed((value) => parseInteger(value, max === undefined ? { min } : { min, max }));

const redisType = parsed((value): RedisType => {
  const word = value.trim().toLowerCase();
  if (word === "node" || word === "cluster") return word;
  throw new ValueFormatError('unknown redisType: expected "node" or "cluster"');
});

const metadataShape = {
  redisHost: text,
  redisPassword: text,
  redisUsername: text,
  useEntraID: bool,
  enableTLS: bool,
  failover: bool,
  sentinelMasterName: text,
  redeliverInterval: duration,
  processingTimeout: duration,
  redisType,
  redisDB: integer(0),
  redisMaxRetries: integer(-1),
  redisMinRetryInterval: duration,
  redisMaxRetryInterval: duration,
  dialTimeout: durationNotDisabled,
  readTimeout: duration,
  writeTimeout: duration,
  poolSize: integer(0),
  poolTimeout: duration,
  maxConnAge: duration,
  minIdleConns: integer(0),
  idleCheckFrequency: duration,
  idleTimeout: duration,
  redisPort: integer(0, 65535),
  sentinelUsername: text,
  sentinelPassword: text,
  insecureSkipTLSVerify: bool,
  clientCert: pem("certificate"),
  clientKey: pem("private key"),
  azureClientID: text,
  caCert: pem("CA certificate"),
  maxDeliveries: integer(0),
} satisfies Record<BindingField, z.ZodType>;

type ParsedMetadata = z.output<z.ZodObject<typeof metadataShape>>;

/** Settings as far as metadata alone decides them. */
export type BindingOptions = Omit<
  RedisBindingSettings,
  "name" | "file" | "explicitFields" | "concealedFields"
>;

export interface AddressParse {
  readonly addresses: readonly HostPort[];
  /** Addresses whose own port won over `redisPort`. */
  readonly overriddenPorts: readonly string[];
}

/**
 * Splits `redisHost` on commas into host/port pairs. An address without a
 * port takes `redisPort`, else 6379; an address with its own port keeps it
 * even when `redisPort` differs (upstream Dapr refuses that combination; we
 * let the more specific setting win and say so in a warning).
 */
export function parseAddresses(redisHost: string, redisPort?: number): AddressParse {
  const fallbackPort = redisPort !== undefined && redisPort !== 0 ? redisPort : DEFAULT_REDIS_PORT;
  const addresses: HostPort[] = [];
  const overriddenPorts: string[] = [];
  for (const piece of redisHost.split(",")) {
    const address = piece.trim();
    if (address === "") throw new ValueFormatError("empty address in the comma-separated list");
    const { host, port } = splitHostPort(address);
    if (port !== undefined && redisPort !== undefined && redisPort !== 0 && port !== redisPort) {
      overriddenPorts.push(address);
    }
    addresses.push(Object.freeze({ host, port: port ?? fallbackPort }));
  }
  return { addresses: Object.freeze(addresses), overriddenPorts };
}

function splitHostPort(address: string): { host: string; port: number | undefined } {
  let host: string;
  let portText: string | undefined;
  if (address.startsWith("[")) {
    const match = /^\[([^\]]+)\](?::(.*))?$/.exec(address);
    if (match?.[1] === undefined) {
      throw new ValueFormatError('invalid address: expected "[ipv6]" or "[ipv6]:port"');
    }
    host = match[1];
    portText = match[2];
  } else {
    const colons = address.split(":").length - 1;
    if (colons === 1) {
      const at = address.indexOf(":");
      host = address.slice(0, at);
      portText = address.slice(at + 1);
    } else {
      // No colon, or an unbracketed IPv6 literal, which cannot carry a port
      // (Go's net.SplitHostPort reads it the same way).
      host = address;
    }
  }
  if (host === "" || /\s/.test(host)) throw new ValueFormatError("invalid address: bad host");
  if (portText === undefined) return { host, port: undefined };
  if (!/^[0-9]+$/.test(portText)) throw new ValueFormatError("invalid address: bad port");
  const port = Number(portText);
  if (port < 1 || port > 65535) {
    throw new ValueFormatError("invalid address: port must be between 1 and 65535");
  }
  return { host, port };
}

function durationMs(
  setting: DurationSetting | undefined,
  rule: { readonly fallback: number; readonly disabled: number; readonly zeroDisables?: boolean },
): number;
function durationMs(
  setting: DurationSetting | undefined,
  rule: {
    readonly fallback: number | undefined;
    readonly disabled: number | undefined;
    readonly zeroDisables?: boolean;
  },
): number | undefined;
function durationMs(
  setting: DurationSetting | undefined,
  rule: {
    readonly fallback: number | undefined;
    readonly disabled: number | undefined;
    readonly zeroDisables?: boolean;
  },
): number | undefined {
  if (setting === undefined) return rule.fallback;
  switch (setting.kind) {
    case "ms":
      return setting.ms;
    case "disabled":
      return rule.disabled;
    case "zero":
      return rule.zeroDisables === true ? rule.disabled : rule.fallback;
  }
}

function crossCheck(value: ParsedMetadata, ctx: z.RefinementCtx<ParsedMetadata>): void {
  const issue = (field: BindingField, message: string) =>
    ctx.addIssue({ code: "custom", path: [field], message });
  if (value.redisHost === undefined || value.redisHost.trim() === "") {
    issue("redisHost", "is required");
  }
  if (value.failover === true && value.sentinelMasterName === undefined) {
    issue("sentinelMasterName", "is required when failover is true");
  }
  if (value.useEntraID === true) {
    for (const field of ["redisUsername", "redisPassword"] as const) {
      if (value[field] !== undefined) {
        issue(
          "useEntraID",
          `cannot be combined with ${field}: with Entra ID the credentials come from the token`,
        );
      }
    }
    if (value.enableTLS !== true) issue("useEntraID", "requires enableTLS to be true");
  }
  if (value.clientCert !== undefined && value.clientKey === undefined) {
    issue("clientKey", "is required when clientCert is set");
  }
  if (value.clientKey !== undefined && value.clientCert === undefined) {
    issue("clientCert", "is required when clientKey is set");
  }
}

function build(
  value: ParsedMetadata,
  ctx: z.RefinementCtx<ParsedMetadata>,
): BindingOptions & { overriddenPorts: readonly string[] } {
  let parsedAddresses: AddressParse = { addresses: [], overriddenPorts: [] };
  try {
    parsedAddresses = parseAddresses(value.redisHost ?? "", value.redisPort);
  } catch (error) {
    if (!(error instanceof ValueFormatError)) throw error;
    ctx.addIssue({
      code: "custom",
      path: ["redisHost"],
      message: error.message,
      params: { shown: value.redisHost },
    });
    return z.NEVER;
  }

  const readTimeoutMs = durationMs(value.readTimeout, {
    fallback: DEFAULTS.readTimeoutMs,
    disabled: undefined,
  });
  const poolTimeoutDefault =
    readTimeoutMs !== undefined ? readTimeoutMs + 1_000 : DEFAULTS.poolTimeoutWithoutReadTimeoutMs;
  const maxRetries = value.redisMaxRetries ?? 0;

  return {
    redisHost: value.redisHost ?? "",
    addresses: parsedAddresses.addresses,
    overriddenPorts: parsedAddresses.overriddenPorts,
    redisType: value.redisType ?? "node",
    redisDB: value.redisDB ?? 0,
    redisUsername: value.redisUsername,
    redisPassword: value.redisPassword,
    enableTLS: value.enableTLS ?? false,
    insecureSkipTLSVerify: value.insecureSkipTLSVerify ?? false,
    clientCert: value.clientCert,
    clientKey: value.clientKey,
    caCert: value.caCert,
    useEntraID: value.useEntraID ?? false,
    azureClientID: value.azureClientID,
    failover: value.failover ?? false,
    sentinelMasterName: value.sentinelMasterName,
    sentinelUsername: value.sentinelUsername,
    sentinelPassword: value.sentinelPassword,
    redeliverIntervalMs: durationMs(value.redeliverInterval, {
      fallback: DEFAULTS.redeliverIntervalMs,
      disabled: 0,
      zeroDisables: true,
    }),
    processingTimeoutMs: durationMs(value.processingTimeout, {
      fallback: DEFAULTS.processingTimeoutMs,
      disabled: 0,
      zeroDisables: true,
    }),
    // "0" means the default, as for every other count.
    maxDeliveries: value.maxDeliveries || DEFAULTS.maxDeliveries,
    // go-redis reads -1 as "no retries", which is also the seed's default.
    redisMaxRetries: Math.max(maxRetries, 0),
    redisMinRetryIntervalMs: durationMs(value.redisMinRetryInterval, {
      fallback: DEFAULTS.redisMinRetryIntervalMs,
      disabled: 0,
    }),
    redisMaxRetryIntervalMs: durationMs(value.redisMaxRetryInterval, {
      fallback: DEFAULTS.redisMaxRetryIntervalMs,
      disabled: 0,
    }),
    dialTimeoutMs: durationMs(value.dialTimeout, {
      fallback: DEFAULTS.dialTimeoutMs,
      disabled: DEFAULTS.dialTimeoutMs,
    }),
    readTimeoutMs,
    writeTimeoutMs: durationMs(value.writeTimeout, {
      fallback: readTimeoutMs,
      disabled: undefined,
    }),
    // go-redis would default to 10 connections per CPU, because it sends one
    // command per connection at a time. ioredis pipelines every concurrent
    // command over one socket, so one connection is the better default; more
    // only when poolSize asks for them.
    poolSize: value.poolSize !== undefined && value.poolSize > 0 ? value.poolSize : 1,
    poolTimeoutMs: durationMs(value.poolTimeout, {
      fallback: poolTimeoutDefault,
      disabled: undefined,
    }),
    maxConnAgeMs: durationMs(value.maxConnAge, { fallback: undefined, disabled: undefined }),
    minIdleConns: value.minIdleConns ?? 0,
    idleCheckFrequencyMs: durationMs(value.idleCheckFrequency, {
      fallback: DEFAULTS.idleCheckFrequencyMs,
      disabled: undefined,
    }),
    idleTimeoutMs: durationMs(value.idleTimeout, {
      fallback: DEFAULTS.idleTimeoutMs,
      disabled: undefined,
    }),
  };
}

/**
 * The metadata schema: input is the known fields by their canonical names,
 * each an optional string; output is the binding's options.
 */
export const bindingMetadataSchema = z
  .object(metadataShape)
  .superRefine(crossCheck)
  .transform(build);

/** One metadata entry with its value resolved to a string. */
export interface MetadataEntry {
  readonly name: string;
  readonly value: string;
  /** The value came from a secret store or the environment: never show it. */
  readonly concealed?: boolean;
}

export interface BindingComponent {
  readonly file: string;
  readonly name: string;
  readonly metadata: readonly MetadataEntry[];
}

export interface ParsedBinding {
  readonly settings: RedisBindingSettings;
  /** Complete log lines naming file, component and field. */
  readonly warnings: readonly string[];
}

/**
 * Validates one component. Metadata names match without regard to case, as in
 * Dapr. Throws `ConfigError` naming file, component and field; a value is
 * quoted in the message only when it is neither a secret field nor came from
 * a secret store or the environment.
 */
export function parseBindingSettings(component: BindingComponent): ParsedBinding {
  const { file, name } = component;
  const where = (field: string) => `${file}, component "${name}", field "${field}"`;
  const warnings: string[] = [];
  const input: Partial<Record<BindingField, string>> = {};
  const writtenAs = new Map<BindingField, string>();
  const concealed = new Set<BindingField>();

  for (const entry of component.metadata) {
    const lower = entry.name.toLowerCase();
    const field = FIELD_BY_LOWER.get(lower);
    if (field === undefined) {
      if (lower === DIRECTION) {
        if (!/\boutput\b/i.test(entry.value)) {
          warnings.push(
            `${where(entry.name)}: this worker only serves output bindings; the component is served as one anyway`,
          );
        }
      } else {
        warnings.push(`${where(entry.name)}: unknown metadata field is ignored`);
      }
      continue;
    }
    const earlier = writtenAs.get(field);
    if (earlier !== undefined) {
      throw new ConfigError(
        file,
        name,
        field,
        earlier === entry.name
          ? "is given more than once"
          : `is given more than once (as "${earlier}" and "${entry.name}")`,
      );
    }
    writtenAs.set(field, entry.name);
    input[field] = entry.value;
    if (entry.concealed === true) concealed.add(field);
  }

  const result = bindingMetadataSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = String(issue?.path[0] ?? "metadata");
    let reason = issue?.message ?? "invalid";
    const shown: unknown = issue?.code === "custom" ? issue.params?.shown : undefined;
    const mayShow =
      typeof shown === "string" &&
      !SECRET_FIELDS.has(field) &&
      !concealed.has(field as BindingField) &&
      field !== "clientCert" &&
      field !== "caCert";
    if (mayShow) reason += ` (got "${shown}")`;
    throw new ConfigError(file, name, writtenAs.get(field as BindingField) ?? field, reason);
  }

  const { overriddenPorts, ...options } = result.data;
  const explicitFields = frozenSet("explicitFields", writtenAs.keys());

  for (const address of overriddenPorts) {
    const shown = concealed.has("redisHost") ? "an address" : `address "${address}"`;
    warnings.push(
      `${where("redisPort")}: ${shown} in redisHost has its own port, which is used instead of redisPort`,
    );
  }
  for (const { field, message } of effectWarnings(options, explicitFields)) {
    warnings.push(`${where(writtenAs.get(field as BindingField) ?? field)}: ${message}`);
  }

  const settings: RedisBindingSettings = Object.freeze({
    name,
    file,
    ...options,
    explicitFields,
    concealedFields: frozenSet("concealedFields", concealed),
  });
  return { settings, warnings: Object.freeze(warnings) };
}

/**
 * `Object.freeze` does not stop `Set#add`; shadowing the mutators makes the
 * set as immutable as the rest of the settings.
 */
function frozenSet<T>(what: string, items: Iterable<T>): ReadonlySet<T> {
  const set = new Set(items);
  const refuse = () => {
    throw new TypeError(`${what} is read-only`);
  };
  for (const method of ["add", "delete", "clear"]) {
    Object.defineProperty(set, method, { value: refuse });
  }
  return Object.freeze(set);
}
