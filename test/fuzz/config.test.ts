import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BINDING_FIELDS } from "../../src/config/binding-schema.js";
import { loadComponents } from "../../src/config/components.js";
import { ConfigError } from "../../src/errors.js";
import { params, runs, tally } from "./support/profile.js";

/**
 * Component files, broken every way: random edits to valid YAML, every field
 * with values of every type, documents that are not what they claim, secret
 * stores that do not parse. Loading gives the settings or one ConfigError
 * whose message is a single line naming where; never another exception, and
 * never a secret, which here only comes from a secret store or the
 * environment. The CLI's `validate` says the same as one line on stderr, exit 1.
 */

const MAIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
const run = promisify(execFile);
const SECRET = `S3CR3T${randomBytes(10).toString("hex")}`;
const ENV = { REDIS_PW: SECRET, HOST_FROM_ENV: "localhost:6379" };

const YAML_NOISE = [
  ":",
  "-",
  "{",
  "}",
  "[",
  "]",
  '"',
  "'",
  "&a",
  "*a",
  "!!binary ",
  "!tag ",
  "|",
  ">",
  "#",
  "%YAML 1.1\n",
  "---\n",
  "...\n",
  "\t",
  "\n",
  "  ",
  "? ",
  "<<: ",
  "\u0000",
  "\ufeff",
  "é",
  "🔑",
];

const scalarArb = fc.oneof(
  fc.constantFrom(
    '"localhost:6379"',
    "true",
    "false",
    "yes",
    "no",
    "~",
    "null",
    "0",
    "-1",
    "1e3",
    "0x10",
    "0o17",
    ".inf",
    "-.nan",
    '"10s"',
    '"1m30s"',
    '"soon"',
    "2026-01-01",
    "[]",
    "{}",
    "[1, 2]",
    "{a: 1}",
    '""',
    "'single'",
    "|\n      block",
    "&anchor value",
    "*anchor",
    "*undefined",
    "!!int 12",
    "!!str 12",
    "12345678901234567890123",
  ),
  fc.string({ maxLength: 20 }).map((text) => JSON.stringify(text)),
  fc.integer().map(String),
  fc.double().map(String),
);

/** A value that suits the field, so that some generated components load. */
function suitableValue(field: string): fc.Arbitrary<string> {
  if (/Timeout|Interval|Age|Frequency/.test(field)) {
    return fc.constantFrom('"10s"', '"1m30s"', '"250ms"', '"-1"', '"0"', "1500");
  }
  if (/^(redisDB|redisMaxRetries|poolSize|minIdleConns|maxDeliveries|redisPort)$/.test(field)) {
    return fc.integer({ min: 0, max: 15 }).map(String);
  }
  if (/^(enableTLS|failover|useEntraID|insecureSkipTLSVerify)$/.test(field)) {
    return fc.constantFrom('"false"', "false", '"F"', "0");
  }
  if (field === "redisType") return fc.constantFrom('"node"', '"cluster"');
  if (field === "redisHost") return fc.constantFrom('"localhost:6379"', '"a:1,b:2"', '"redis"');
  return fc.string({ maxLength: 12 }).map((text) => JSON.stringify(text));
}

/** One metadata entry: a field (known or not) with a value of any kind. */
const entryArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .constantFrom(...BINDING_FIELDS)
      .chain((name) =>
        suitableValue(name).map((value) => `    - name: ${name}\n      value: ${value}`),
      ),
  },
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.constantFrom(...BINDING_FIELDS), scalarArb)
      .map(([name, value]) => `    - name: ${name}\n      value: ${value}`),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom(
          "redisPassword",
          "sentinelPassword",
          "clientKey",
          "redisDB",
          "dialTimeout",
          "redisHost",
        ),
        fc.constantFrom("redis-password", "missing", "nested:key"),
      )
      .map(
        ([name, ref]) => `    - name: ${name}\n      secretKeyRef: { name: ${ref}, key: ${ref} }`,
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom("redisPassword", "redisHost", "redisDB", "readTimeout"),
        fc.constantFrom("REDIS_PW", "HOST_FROM_ENV", "UNSET_VARIABLE"),
      )
      .map(([name, variable]) => `    - name: ${name}\n      envRef: ${variable}`),
  },
  {
    weight: 1,
    arbitrary: fc
      .string({ maxLength: 12 })
      .map((name) => `    - name: ${JSON.stringify(name)}\n      value: x`),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "    - name: redisPassword\n      value: a\n      secretKeyRef: { name: redis-password }",
      "    - value: nameless",
      "    - 42",
      "    - name: [a, b]\n      value: 1",
      "    - name: redisHost",
    ),
  },
);

/** Anything in every part of a component. */
const hostileComponentArb = fc.record({
  name: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom("cache", "orders") },
    { weight: 1, arbitrary: fc.constantFrom("bad.name", "has space", "*", ">", "") },
    { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
  ),
  type: fc.constantFrom(
    "bindings.redis",
    "bindings.kafka",
    "state.redis",
    "secretstores.local.file",
    "",
  ),
  version: fc.constantFrom("v1", "v2", '""', "1", "[v1]"),
  apiVersion: fc.constantFrom("dapr.io/v1alpha1", "dapr.io/v2", "v1"),
  kind: fc.constantFrom("Component", "Configuration", "component", "[Component]"),
  entries: fc.array(entryArb, { maxLength: 6 }),
  host: fc.boolean(),
  store: fc.constantFrom("local-secrets", "missing-store", "env-store", undefined),
});

/** A plausible bindings.redis component whose fields may still be wrong. */
const plausibleComponentArb = fc.record({
  name: fc.constantFrom("cache", "orders", "sessions"),
  type: fc.constant("bindings.redis"),
  version: fc.constantFrom("v1", '""'),
  apiVersion: fc.constant("dapr.io/v1alpha1"),
  kind: fc.constant("Component"),
  entries: fc.array(
    fc
      .constantFrom(...BINDING_FIELDS)
      .chain((name) =>
        suitableValue(name).map((value) => `    - name: ${name}\n      value: ${value}`),
      ),
    { maxLength: 4 },
  ),
  host: fc.constant(true),
  store: fc.constantFrom("local-secrets", undefined),
});

const componentArb = fc.oneof(
  { weight: 1, arbitrary: plausibleComponentArb },
  { weight: 1, arbitrary: hostileComponentArb },
);

type Component = typeof componentArb extends fc.Arbitrary<infer T> ? T : never;

function componentText(c: Component): string {
  const entries = [
    ...(c.host ? ['    - name: redisHost\n      value: "localhost:6379"'] : []),
    ...c.entries,
  ];
  return `apiVersion: ${c.apiVersion}
kind: ${c.kind}
metadata:
  name: ${JSON.stringify(c.name)}
spec:
  type: ${c.type}
  version: ${c.version}
  metadata:
${entries.join("\n")}
${c.store ? `auth:\n  secretStore: ${c.store}\n` : ""}`;
}

const STORES = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: local-secrets
spec:
  type: secretstores.local.file
  version: v1
  metadata:
    - name: secretsFile
      value: secrets.json
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: env-store
spec:
  type: secretstores.local.env
  version: v1
`;

/** Random edits: YAML punctuation inserted, characters deleted or replaced. */
function mutate(text: string, edits: readonly [number, number, number][]): string {
  let out = text;
  for (const [kind, position, noise] of edits) {
    const at = position % (out.length + 1);
    const piece = YAML_NOISE[noise % YAML_NOISE.length] ?? "";
    if (kind === 0) out = out.slice(0, at) + piece + out.slice(at);
    else if (kind === 1) out = out.slice(0, at) + out.slice(at + 1 + (noise % 4));
    else out = out.slice(0, at) + piece + out.slice(at + piece.length);
  }
  return out;
}

const editsArb = fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.nat(), fc.nat()), {
  maxLength: 6,
});

const secretsJsonArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constant(JSON.stringify({ "redis-password": SECRET, nested: { key: SECRET } })),
  },
  {
    weight: 1,
    arbitrary: editsArb.map((edits) =>
      mutate(JSON.stringify({ "redis-password": SECRET, nested: { key: SECRET } }), edits),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "",
      "[]",
      "null",
      `"${SECRET}"`,
      `{"redis-password": ${JSON.stringify(SECRET)}, "redis-password": 1}`,
      `{"nested:key": "${SECRET}", "nested": {"key": "x"}}`,
    ),
  },
);

const caseArb = fc.record({
  components: fc.oneof(
    fc.tuple(plausibleComponentArb, fc.constant([] as [number, number, number][])).map((c) => [c]),
    fc.array(fc.tuple(componentArb, editsArb), { minLength: 1, maxLength: 2 }),
  ),
  secretsJson: secretsJsonArb,
  withStores: fc.boolean(),
  extra: fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
    fc.string({ maxLength: 200, unit: "binary" }),
    fc.constantFrom(
      "a: &a [*a]\n",
      "x: !!binary zz\n",
      "- - - -\n",
      "key: value\nkey: again\n",
      ":\n:\n",
    ),
  ),
});

type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

async function writeCase(dir: string, c: Case): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await import("node:fs/promises").then((fs) => fs.mkdir(dir, { recursive: true }));
  for (const [index, [component, edits]] of c.components.entries()) {
    await writeFile(join(dir, `c${index}.yaml`), mutate(componentText(component), edits));
  }
  if (c.withStores) await writeFile(join(dir, "stores.yaml"), STORES);
  await writeFile(join(dir, "secrets.json"), c.secretsJson);
  if (c.extra !== undefined) await writeFile(join(dir, "extra.yml"), c.extra);
}

describe("fuzz: component files", () => {
  let root: string;
  let outcomes = { loaded: 0, refused: 0 };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "rbw-config-fuzz-"));
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("loadComponents: settings, or one ConfigError line without secrets", async () => {
    const numRuns = runs(100, 3_000);
    outcomes = { loaded: 0, refused: 0 };
    const dir = join(root, "load");
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        await writeCase(dir, c);
        try {
          const loaded = await loadComponents(dir, ENV);
          outcomes.loaded++;
          expect(loaded.bindings.length).toBeGreaterThan(0);
          for (const warning of loaded.warnings) expect(warning).not.toContain(SECRET);
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
          outcomes.refused++;
          expect(error.message).not.toMatch(/[\r\n]/);
          expect(error.message).not.toContain(SECRET);
          expect(error.message.length).toBeLessThan(2000);
        }
      }),
      params(numRuns),
    );
    console.log(`config fuzz: ${JSON.stringify(outcomes)}`);
    tally("config: loadComponents on broken component files", numRuns);
  });

  it("validate (CLI): exit 0 with the settings, or exit 1 with one line on stderr", async () => {
    const numRuns = runs(15, 120);
    const dir = join(root, "cli");
    const seen = { ok: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        await writeCase(dir, c);
        let code = 0;
        let stdout = "";
        let stderr = "";
        try {
          ({ stdout, stderr } = await run(process.execPath, [MAIN, "validate", dir], {
            env: { PATH: process.env.PATH ?? "", ...ENV },
            timeout: 20_000,
          }));
        } catch (error) {
          const failed = error as { code?: number; stdout?: string; stderr?: string };
          code = failed.code ?? -1;
          stdout = failed.stdout ?? "";
          stderr = failed.stderr ?? "";
        }
        expect(`${stdout}${stderr}`).not.toContain(SECRET);
        if (code === 0) {
          seen.ok++;
          expect(stderr).toBe("");
          expect(JSON.parse(stdout)).toHaveProperty("bindings");
        } else {
          seen.refused++;
          expect(code).toBe(1);
          expect(stdout).toBe("");
          const lines = stderr.trimEnd().split("\n");
          expect(lines).toHaveLength(1);
          expect(lines[0]).toMatch(/^invalid configuration: /);
        }
      }),
      params(numRuns),
    );
    console.log(`config fuzz (CLI): ${JSON.stringify(seen)}`);
    tally("config: validate CLI on broken component files", numRuns);
  });
});
