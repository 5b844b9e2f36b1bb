/**
 * The two local secret stores Dapr offers for self-hosted use, so that a
 * component written for Dapr resolves its `secretKeyRef`s here the same way.
 * Nothing in this file puts a secret value into a message.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { ConfigError } from "../errors.js";
import { parseBool, ValueFormatError } from "./duration.js";

export const ENV_SECRET_STORE = "secretstores.local.env";
export const FILE_SECRET_STORE = "secretstores.local.file";
export const SECRET_STORE_TYPES: ReadonlySet<string> = new Set([
  ENV_SECRET_STORE,
  FILE_SECRET_STORE,
]);

export interface SecretStore {
  readonly name: string;
  readonly type: string;
  /** The file that defines the store, for messages. */
  readonly file: string;
  /**
   * The key/value pairs of one secret, or undefined when the store has no
   * such secret. Throws `SecretAccessError` when the store refuses the name.
   */
  getSecret(secretName: string): ReadonlyMap<string, string> | undefined;
}

/** A store refused a secret name (as Dapr's env store refuses `DAPR_*`). */
export class SecretAccessError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "SecretAccessError";
  }
}

/** A secret store component as read from its file, metadata resolved to strings. */
export interface SecretStoreDefinition {
  readonly file: string;
  readonly name: string;
  readonly type: string;
  readonly metadata: ReadonlyMap<string, string>;
}

export interface SecretStoreOptions {
  /** Relative `secretsFile` paths are taken from here. */
  readonly componentsDir: string;
  readonly env: NodeJS.ProcessEnv;
}

/**
 * Builds a store. Metadata names are matched without regard to case, as Dapr
 * decodes them. Returns warnings for metadata the store does not know.
 */
export async function createSecretStore(
  definition: SecretStoreDefinition,
  options: SecretStoreOptions,
): Promise<{ store: SecretStore; warnings: string[] }> {
  switch (definition.type) {
    case ENV_SECRET_STORE:
      return createEnvStore(definition, options.env);
    case FILE_SECRET_STORE:
      return createFileStore(definition, options.componentsDir);
    default:
      throw new ConfigError(
        definition.file,
        definition.name,
        "spec.type",
        `secret store type "${definition.type}" is not supported (supported: ${[...SECRET_STORE_TYPES].join(", ")})`,
      );
  }
}

function readStoreMetadata(
  definition: SecretStoreDefinition,
  known: readonly string[],
): { values: Map<string, string>; warnings: string[] } {
  const byLower = new Map(known.map((name) => [name.toLowerCase(), name]));
  const values = new Map<string, string>();
  const warnings: string[] = [];
  for (const [name, value] of definition.metadata) {
    const canonical = byLower.get(name.toLowerCase());
    if (canonical === undefined) {
      warnings.push(
        `${definition.file}, component "${definition.name}": unknown metadata field "${name}" of ${definition.type} is ignored`,
      );
      continue;
    }
    values.set(canonical, value);
  }
  return { values, warnings };
}

// Dapr keeps these out of reach of components so a component file cannot
// exfiltrate the sidecar's own credentials; a Dapr user expects the same here.
function isEnvNameAllowed(name: string): boolean {
  const upper = name.toUpperCase();
  return upper !== "APP_API_TOKEN" && !upper.startsWith("DAPR_");
}

function createEnvStore(
  definition: SecretStoreDefinition,
  env: NodeJS.ProcessEnv,
): { store: SecretStore; warnings: string[] } {
  const { values, warnings } = readStoreMetadata(definition, ["prefix"]);
  const prefix = values.get("prefix") ?? "";
  const store: SecretStore = {
    name: definition.name,
    type: definition.type,
    file: definition.file,
    getSecret(secretName) {
      const variable = prefix + secretName;
      if (!isEnvNameAllowed(variable)) {
        throw new SecretAccessError(`access to environment variable "${variable}" is forbidden`);
      }
      const value = env[variable];
      if (value === undefined) return undefined;
      // Dapr answers with the secret name as the only key.
      return new Map([[secretName, value]]);
    },
  };
  return { store: Object.freeze(store), warnings };
}

async function createFileStore(
  definition: SecretStoreDefinition,
  componentsDir: string,
): Promise<{ store: SecretStore; warnings: string[] }> {
  const { values, warnings } = readStoreMetadata(definition, [
    "secretsFile",
    "nestedSeparator",
    "multiValued",
  ]);
  const fail = (field: string, reason: string): never => {
    throw new ConfigError(definition.file, definition.name, field, reason);
  };

  const secretsFile = values.get("secretsFile") ?? "";
  if (secretsFile.trim() === "") fail("secretsFile", "is required");
  const separator = values.get("nestedSeparator") || ":";
  let multiValued = false;
  const multiValuedText = values.get("multiValued");
  if (multiValuedText !== undefined && multiValuedText.trim() !== "") {
    try {
      multiValued = parseBool(multiValuedText);
    } catch (error) {
      if (!(error instanceof ValueFormatError)) throw error;
      fail("multiValued", error.message);
    }
  }

  const resolved = path.resolve(componentsDir, secretsFile);
  let text = "";
  try {
    text = await readFile(resolved, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "read error";
    fail("secretsFile", `cannot read secrets file "${resolved}" (${code})`);
  }

  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    // V8's message quotes the surrounding text, which is the secrets: keep
    // only the position.
    const where = /line \d+ column \d+/.exec(String((error as Error).message))?.[0];
    fail(
      "secretsFile",
      `secrets file "${resolved}" is not valid JSON${where !== undefined ? ` (${where})` : ""}`,
    );
  }
  if (!isPlainObject(document)) {
    return fail("secretsFile", `secrets file "${resolved}" must hold a JSON object`);
  }

  const secrets = new Map<string, ReadonlyMap<string, string>>();
  const duplicate = (key: string): never =>
    fail(
      "secretsFile",
      `secrets file "${resolved}" has the key "${key}" twice once nested keys are joined with "${separator}"`,
    );
  if (multiValued) {
    // Top-level keys are the secrets; whatever is below becomes that
    // secret's keys (nested further with the separator).
    for (const [name, value] of Object.entries(document)) {
      if (value !== null && typeof value === "object") {
        const entries = new Map<string, string>();
        flatten(value, [], separator, entries, duplicate);
        secrets.set(name, entries);
      } else {
        secrets.set(name, new Map([[name, scalarText(value)]]));
      }
    }
  } else {
    const flat = new Map<string, string>();
    flatten(document, [], separator, flat, duplicate);
    for (const [name, value] of flat) secrets.set(name, new Map([[name, value]]));
  }

  const store: SecretStore = {
    name: definition.name,
    type: definition.type,
    file: definition.file,
    getSecret(secretName) {
      return secrets.get(secretName);
    },
  };
  return { store: Object.freeze(store), warnings };
}

function flatten(
  value: unknown,
  trail: readonly string[],
  separator: string,
  into: Map<string, string>,
  duplicate: (key: string) => never,
): void {
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      flatten(item, [...trail, String(index)], separator, into, duplicate);
    });
    return;
  }
  if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      flatten(item, [...trail, key], separator, into, duplicate);
    }
    return;
  }
  const key = trail.join(separator);
  if (into.has(key)) duplicate(key);
  into.set(key, scalarText(value));
}

function scalarText(value: unknown): string {
  if (value === null || value === undefined) return "";
  return String(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Where a reference sits, for messages. */
export interface SecretRefLocation {
  readonly file: string;
  readonly component: string;
  readonly field: string;
}

export interface SecretKeyRef {
  readonly name: string;
  /** Defaults to `name`, as in Dapr. */
  readonly key?: string | undefined;
}

/**
 * Resolves a `secretKeyRef` through `store`, the store the component names in
 * `auth.secretStore` (`storeName`; undefined store = no such component).
 */
export function resolveSecretKeyRef(
  store: SecretStore | undefined,
  storeName: string | undefined,
  ref: SecretKeyRef,
  where: SecretRefLocation,
): string {
  const fail = (reason: string): never => {
    throw new ConfigError(where.file, where.component, where.field, reason);
  };
  if (storeName === undefined || storeName === "") {
    return fail("secretKeyRef needs the component to name a store in auth.secretStore");
  }
  if (store === undefined) {
    return fail(`secret store "${storeName}" (auth.secretStore) is not defined`);
  }
  let secret: ReadonlyMap<string, string> | undefined;
  try {
    secret = store.getSecret(ref.name);
  } catch (error) {
    if (!(error instanceof SecretAccessError)) throw error;
    return fail(`secret "${ref.name}" in secret store "${storeName}": ${error.message}`);
  }
  if (secret === undefined) {
    return fail(`secret "${ref.name}" not found in secret store "${storeName}"`);
  }
  const key = ref.key !== undefined && ref.key !== "" ? ref.key : ref.name;
  const value = secret.get(key);
  if (value === undefined) {
    return fail(`secret "${ref.name}" in secret store "${storeName}" has no key "${key}"`);
  }
  return value;
}
