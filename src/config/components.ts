/**
 * Reads a Dapr components directory: every `*.yaml`/`*.yml` file, each
 * possibly holding several documents. `bindings.redis` components become
 * settings; local secret stores serve their `secretKeyRef`s; anything else is
 * reported back as ignored so the caller can log it.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { type Document, isScalar, parseAllDocuments } from "yaml";
import { z } from "zod";
import { ConfigError } from "../errors.js";
import { type MetadataEntry, parseBindingSettings } from "./binding-schema.js";
import {
  createSecretStore,
  resolveSecretKeyRef,
  SECRET_STORE_TYPES,
  type SecretStore,
} from "./secrets.js";
import type { RedisBindingSettings } from "./settings.js";

export const BINDING_TYPE = "bindings.redis";
const API_VERSION = "dapr.io/v1alpha1";
/** Dapr's component versions for bindings.redis; empty means the latest. */
const BINDING_VERSIONS: ReadonlySet<string> = new Set(["", "v1"]);

export interface IgnoredComponent {
  readonly file: string;
  readonly name: string;
  readonly type: string;
}

export interface LoadedComponents {
  readonly bindings: readonly RedisBindingSettings[];
  readonly ignored: readonly IgnoredComponent[];
  /** Complete log lines; none of them holds a secret. */
  readonly warnings: readonly string[];
}

const scalar = z.union([z.string(), z.number(), z.boolean(), z.bigint(), z.null()]);

const metadataEntrySchema = z.object({
  name: z.string().min(1),
  value: z.unknown().optional(),
  secretKeyRef: z
    .object({ name: z.string().min(1), key: z.string().optional().nullable() })
    .optional()
    .nullable(),
  envRef: z.string().min(1).optional().nullable(),
});

const componentSchema = z.object({
  apiVersion: z.string(),
  kind: z.literal("Component"),
  metadata: z.object({ name: z.string().min(1) }),
  spec: z.object({
    type: z.string().min(1),
    version: scalar.optional(),
    metadata: z.array(z.unknown()).optional().nullable(),
  }),
  auth: z.object({ secretStore: z.string().optional().nullable() }).optional().nullable(),
});

type ComponentDocument = z.output<typeof componentSchema>;

interface FoundComponent {
  readonly file: string;
  readonly document: Document;
  readonly body: ComponentDocument;
  readonly index: number;
}

// A subject token: the binding name is the last token of `<prefix>.<name>`.
const SUBJECT_TOKEN = /^[^\s.*>]+$/;

/**
 * Loads every component in `dir`. Throws `ConfigError` for anything that
 * would make a binding misbehave: the worker should not start half-configured.
 */
export async function loadComponents(
  dir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoadedComponents> {
  const files = await listComponentFiles(dir);
  const warnings: string[] = [];
  const ignored: IgnoredComponent[] = [];
  const bindingDocs: FoundComponent[] = [];
  const storeDocs = new Map<string, FoundComponent>();
  const ignoredTypes = new Map<string, string>();
  const bindingFiles = new Map<string, string>();

  for (const file of files) {
    for (const found of await readComponentFile(file, warnings)) {
      const { body } = found;
      const name = body.metadata.name;
      const type = body.spec.type;
      if (type === BINDING_TYPE) {
        const earlier = bindingFiles.get(name);
        if (earlier !== undefined) {
          throw new ConfigError(
            file,
            name,
            "metadata.name",
            `binding "${name}" is defined twice: in ${earlier} and in ${file}`,
          );
        }
        bindingFiles.set(name, file);
        bindingDocs.push(found);
      } else if (SECRET_STORE_TYPES.has(type)) {
        const earlier = storeDocs.get(name);
        if (earlier !== undefined) {
          throw new ConfigError(
            file,
            name,
            "metadata.name",
            `secret store "${name}" is defined twice: in ${earlier.file} and in ${file}`,
          );
        }
        storeDocs.set(name, found);
      } else {
        ignored.push(Object.freeze({ file, name, type }));
        ignoredTypes.set(name, type);
      }
    }
  }

  if (bindingDocs.length === 0) {
    throw new ConfigError(dir, undefined, undefined, `no ${BINDING_TYPE} component found`);
  }

  // Stores open on first use so that an unused store with a missing file
  // does not stop the bindings that do not need it.
  const openStores = new Map<string, Promise<SecretStore>>();
  const openStore = (storeName: string): Promise<SecretStore> | undefined => {
    const found = storeDocs.get(storeName);
    if (found === undefined) return undefined;
    let opening = openStores.get(storeName);
    if (opening === undefined) {
      opening = (async () => {
        const metadata = new Map<string, string>();
        for (const entry of await resolveMetadata(found, env, undefined)) {
          metadata.set(entry.name, entry.value);
        }
        const { store, warnings: storeWarnings } = await createSecretStore(
          { file: found.file, name: storeName, type: found.body.spec.type, metadata },
          { componentsDir: dir, env },
        );
        warnings.push(...storeWarnings);
        return store;
      })();
      openStores.set(storeName, opening);
    }
    return opening;
  };

  const bindings: RedisBindingSettings[] = [];
  for (const found of bindingDocs) {
    const { body, file } = found;
    const name = body.metadata.name;
    if (!SUBJECT_TOKEN.test(name)) {
      throw new ConfigError(
        file,
        name,
        "metadata.name",
        "must be usable as a NATS subject token: no spaces, dots, '*' or '>'",
      );
    }
    if (body.apiVersion !== API_VERSION) {
      throw new ConfigError(file, name, "apiVersion", `must be ${API_VERSION}`);
    }
    const version = scalarText(body.spec.version ?? "");
    if (!BINDING_VERSIONS.has(version)) {
      throw new ConfigError(file, name, "spec.version", `${BINDING_TYPE} has only version v1`);
    }
    const storeName = body.auth?.secretStore ?? undefined;
    const secrets = {
      storeName,
      open: async (field: string): Promise<SecretStore | undefined> => {
        if (storeName !== undefined && storeName !== "") {
          const otherType = ignoredTypes.get(storeName);
          if (otherType !== undefined && !storeDocs.has(storeName)) {
            throw new ConfigError(
              file,
              name,
              field,
              `secret store "${storeName}" has type ${otherType}, which this worker does not support (supported: ${[...SECRET_STORE_TYPES].join(", ")})`,
            );
          }
          return openStore(storeName);
        }
        return undefined;
      },
    };
    const metadata = await resolveMetadata(found, env, secrets);
    const parsed = parseBindingSettings({ file, name, metadata });
    warnings.push(...parsed.warnings);
    bindings.push(parsed.settings);
  }

  return Object.freeze({
    bindings: Object.freeze(bindings),
    ignored: Object.freeze(ignored),
    warnings: Object.freeze(warnings),
  });
}

async function listComponentFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    const info = await stat(dir);
    if (!info.isDirectory()) {
      throw new ConfigError(dir, undefined, undefined, "components path is not a directory");
    }
    names = await readdir(dir);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(
      dir,
      undefined,
      undefined,
      code === "ENOENT"
        ? "components directory does not exist"
        : `cannot read components directory (${code ?? String(error)})`,
    );
  }
  const files: string[] = [];
  for (const name of names.filter((entry) => /\.ya?ml$/i.test(entry)).sort()) {
    const file = path.join(dir, name);
    if ((await stat(file)).isFile()) files.push(file);
  }
  return files;
}

async function readComponentFile(file: string, warnings: string[]): Promise<FoundComponent[]> {
  let source: string;
  try {
    source = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError(file, undefined, undefined, `cannot read file (${code})`);
  }

  const found: FoundComponent[] = [];
  // logLevel "error": the library's warnings (e.g. for a key that is itself a
  // map or list) go to stderr quoting the source, secrets included.
  const documents = parseAllDocuments(source, { logLevel: "error" });
  // parseAllDocuments answers an empty stream with an empty array, never an EmptyStream.
  const list = Array.isArray(documents) ? documents : [];
  for (const [index, document] of list.entries()) {
    const error = document.errors[0];
    if (error !== undefined) {
      throw new ConfigError(file, undefined, undefined, describeYamlError(error));
    }
    let data: unknown;
    try {
      data = document.toJS();
    } catch (cause) {
      throw new ConfigError(
        file,
        undefined,
        undefined,
        `invalid YAML in document ${index + 1}: ${firstLine(String((cause as Error).message))}`,
      );
    }
    if (data === null || data === undefined) continue;
    const label = `document ${index + 1}`;
    if (typeof data !== "object" || Array.isArray(data)) {
      throw new ConfigError(file, undefined, undefined, `${label} is not a mapping`);
    }
    const kind = (data as Record<string, unknown>).kind;
    if (kind !== "Component") {
      warnings.push(
        `${file}: ${label} is of kind ${typeof kind === "string" ? kind : "(none)"}, not Component; skipped`,
      );
      continue;
    }
    const parsed = componentSchema.safeParse(data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const rawName = (data as { metadata?: { name?: unknown } }).metadata?.name;
      throw new ConfigError(
        file,
        typeof rawName === "string" ? rawName : undefined,
        issue !== undefined ? formatPath(issue.path) : undefined,
        issue !== undefined ? issueReason(issue, data) : "is invalid",
      );
    }
    found.push({ file, document, body: parsed.data, index });
  }
  return found;
}

interface SecretAccess {
  readonly storeName: string | undefined;
  open(field: string): Promise<SecretStore | undefined>;
}

/**
 * Every metadata entry of a component with its value as a string. `secrets`
 * is undefined for secret stores themselves: Dapr does not let a store take
 * its own settings from a store.
 */
async function resolveMetadata(
  found: FoundComponent,
  env: NodeJS.ProcessEnv,
  secrets: SecretAccess | undefined,
): Promise<MetadataEntry[]> {
  const { file, body, document } = found;
  const component = body.metadata.name;
  const entries: MetadataEntry[] = [];
  for (const [position, raw] of (body.spec.metadata ?? []).entries()) {
    const at = `spec.metadata[${position}]`;
    const parsed = metadataEntrySchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const rest = issue !== undefined && issue.path.length > 0 ? formatPath(issue.path) : "";
      throw new ConfigError(
        file,
        component,
        rest === "" ? at : `${at}.${rest}`,
        issue !== undefined ? issueReason(issue, raw) : "is invalid",
      );
    }
    const entry = parsed.data;
    const field = entry.name;
    const sources = [
      entry.value !== undefined && entry.value !== null,
      entry.secretKeyRef != null,
      entry.envRef != null,
    ].filter(Boolean).length;
    if (sources > 1) {
      throw new ConfigError(file, component, field, "give only one of value, secretKeyRef, envRef");
    }

    if (entry.secretKeyRef != null) {
      if (secrets === undefined) {
        throw new ConfigError(file, component, field, "a secret store cannot use secretKeyRef");
      }
      const store = await secrets.open(field);
      const value = resolveSecretKeyRef(
        store,
        secrets.storeName,
        { name: entry.secretKeyRef.name, key: entry.secretKeyRef.key ?? undefined },
        { file, component, field },
      );
      entries.push({ name: field, value, concealed: true });
    } else if (entry.envRef != null) {
      const value = env[entry.envRef];
      if (value === undefined) {
        throw new ConfigError(
          file,
          component,
          field,
          `environment variable "${entry.envRef}" (envRef) is not set`,
        );
      }
      entries.push({ name: field, value, concealed: true });
    } else {
      const node = document.getIn(["spec", "metadata", position, "value"], true);
      entries.push({ name: field, value: valueText(entry.value, node, file, component, field) });
    }
  }
  return entries;
}

/**
 * A plain `value` as the string the user wrote. Numbers keep their source
 * spelling, so a password of `0123` stays "0123" rather than becoming 123.
 */
function valueText(
  value: unknown,
  node: unknown,
  file: string,
  component: string,
  field: string,
): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint") {
    if (isScalar(node) && typeof node.source === "string" && node.source !== "") {
      return node.source;
    }
    return String(value);
  }
  if (typeof value === "boolean") return String(value);
  throw new ConfigError(file, component, field, "value must be a string, number or boolean");
}

function scalarText(value: unknown): string {
  return value === null || value === undefined ? "" : String(value);
}

function describeYamlError(error: {
  message: string;
  linePos?: readonly { line: number; col: number }[];
}): string {
  // The message continues with a code frame of the source (which may hold a
  // secret); keep only the reason and the position.
  const reason = firstLine(error.message)
    .replace(/ at line \d+, column \d+:?$/, "")
    .replace(/:$/, "");
  const start = error.linePos?.[0];
  return start !== undefined
    ? `invalid YAML at line ${start.line}, column ${start.col}: ${reason}`
    : `invalid YAML: ${reason}`;
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0] ?? "";
}

/** Zod's issue, in words that never quote the input. */
function issueReason(issue: z.core.$ZodIssue, data: unknown): string {
  switch (issue.code) {
    case "invalid_type":
      return valueAt(data, issue.path) === undefined
        ? "is required"
        : `must be a ${issue.expected}`;
    case "invalid_value":
      return `must be ${issue.values.map((value) => JSON.stringify(value)).join(" or ")}`;
    case "too_small":
      return "must not be empty";
    default:
      return "is invalid";
  }
}

function valueAt(data: unknown, pathItems: readonly PropertyKey[]): unknown {
  let current = data;
  for (const item of pathItems) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[item];
  }
  return current;
}

function formatPath(pathItems: readonly PropertyKey[]): string {
  let out = "";
  for (const item of pathItems) {
    if (typeof item === "number") out += `[${item}]`;
    else out += out === "" ? String(item) : `.${String(item)}`;
  }
  return out;
}
