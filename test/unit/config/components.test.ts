import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadComponents } from "../../../src/config/components.js";
import { ConfigError } from "../../../src/errors.js";

const SECRET = "Sup3r-S3cret-Do-Not-Log";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "rbw-components-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) {
    await writeFile(path.join(dir, name), text);
  }
}

function binding(name: string, metadata: string, extra = ""): string {
  return `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: ${name}
spec:
  type: bindings.redis
  version: v1
  metadata:
${metadata}
${extra}`;
}

const HOST = `  - name: redisHost
    value: "localhost:6379"`;

async function loadError(env: NodeJS.ProcessEnv = {}): Promise<ConfigError> {
  const error = await loadComponents(dir, env).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe("loadComponents", () => {
  it("loads a binding with the file it came from", async () => {
    await write({ "cache.yaml": binding("cache", HOST) });
    const loaded = await loadComponents(dir, {});
    expect(loaded.bindings).toHaveLength(1);
    expect(loaded.bindings[0]?.name).toBe("cache");
    expect(loaded.bindings[0]?.file).toBe(path.join(dir, "cache.yaml"));
    expect(loaded.bindings[0]?.addresses).toEqual([{ host: "localhost", port: 6379 }]);
    expect(loaded.ignored).toEqual([]);
    expect(loaded.warnings).toEqual([]);
    expect(Object.isFrozen(loaded.bindings)).toBe(true);
  });

  it("reads multi-document files, skipping empty documents, in sorted file order", async () => {
    await write({
      "b.yml": `---\n${binding("second", HOST)}\n---\n---\n# only a comment\n---\n${binding("third", HOST)}`,
      "a.yaml": binding("first", HOST),
      "notes.txt": "not yaml",
    });
    const loaded = await loadComponents(dir, {});
    expect(loaded.bindings.map((settings) => settings.name)).toEqual(["first", "second", "third"]);
  });

  it("does not descend into directories", async () => {
    await write({ "a.yaml": binding("first", HOST) });
    await mkdir(path.join(dir, "nested.yaml"));
    await mkdir(path.join(dir, "sub"));
    await writeFile(path.join(dir, "sub", "b.yaml"), binding("hidden", HOST));
    const loaded = await loadComponents(dir, {});
    expect(loaded.bindings.map((settings) => settings.name)).toEqual(["first"]);
  });

  it("turns YAML numbers and booleans into their written form", async () => {
    await write({
      "cache.yaml": binding(
        "cache",
        `${HOST}
  - name: redisDB
    value: 3
  - name: enableTLS
    value: true
  - name: redisPassword
    value: 0123
  - name: redisUsername
    value: 1.0
  - name: redisMaxRetries
    value:`,
      ),
    });
    const [settings] = (await loadComponents(dir, {})).bindings;
    expect(settings?.redisDB).toBe(3);
    expect(settings?.enableTLS).toBe(true);
    expect(settings?.redisPassword).toBe("0123");
    expect(settings?.redisUsername).toBe("1.0");
    expect(settings?.redisMaxRetries).toBe(0);
  });

  it("lists other component types as ignored and other kinds as warnings", async () => {
    await write({
      "all.yaml": `${binding("cache", HOST)}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.redis
  version: v1
  metadata: []
---
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata:
  name: sub
spec: {}
`,
    });
    const loaded = await loadComponents(dir, {});
    expect(loaded.bindings).toHaveLength(1);
    expect(loaded.ignored).toEqual([
      { file: path.join(dir, "all.yaml"), name: "statestore", type: "state.redis" },
    ]);
    expect(loaded.warnings).toHaveLength(1);
    expect(loaded.warnings[0]).toMatch(/kind Subscription/);
  });

  it("collects unknown-metadata warnings", async () => {
    await write({
      "cache.yaml": binding("cache", `${HOST}\n  - name: queueDepth\n    value: "5"`),
    });
    const loaded = await loadComponents(dir, {});
    expect(loaded.warnings).toHaveLength(1);
    expect(loaded.warnings[0]).toContain('field "queueDepth"');
  });

  it("loads the shipped default component", async () => {
    const shipped = fileURLToPath(new URL("../../../config/components", import.meta.url));
    const loaded = await loadComponents(shipped, {});
    expect(loaded.bindings).toHaveLength(1);
    expect(loaded.bindings[0]).toMatchObject({
      name: "cache",
      redisHost: "localhost:6379",
      addresses: [{ host: "localhost", port: 6379 }],
    });
    expect(loaded.warnings).toEqual([]);
  });
});

describe("values from elsewhere", () => {
  it("resolves envRef", async () => {
    await write({
      "cache.yaml": binding(
        "cache",
        `  - name: redisHost\n    envRef: REDIS_HOST\n  - name: redisPassword\n    envRef: REDIS_PASSWORD`,
      ),
    });
    const [settings] = (
      await loadComponents(dir, { REDIS_HOST: "redis.internal:7000", REDIS_PASSWORD: SECRET })
    ).bindings;
    expect(settings?.addresses).toEqual([{ host: "redis.internal", port: 7000 }]);
    expect(settings?.redisPassword).toBe(SECRET);
  });

  it("reports a missing envRef variable", async () => {
    await write({
      "cache.yaml": binding(
        "cache",
        `${HOST}\n  - name: redisPassword\n    envRef: REDIS_PASSWORD`,
      ),
    });
    const error = await loadError({});
    expect(error.file).toBe(path.join(dir, "cache.yaml"));
    expect(error.component).toBe("cache");
    expect(error.field).toBe("redisPassword");
    expect(error.reason).toMatch(/environment variable "REDIS_PASSWORD" \(envRef\) is not set/);
  });

  it("resolves secretKeyRef through an env store in another file", async () => {
    await write({
      "cache.yaml": binding(
        "cache",
        `${HOST}\n  - name: redisPassword\n    secretKeyRef: { name: PASSWORD, key: PASSWORD }`,
        "auth:\n  secretStore: env-secrets\n",
      ),
      "stores.yaml": `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: env-secrets
spec:
  type: secretstores.local.env
  version: v1
  metadata:
  - name: prefix
    value: APP_
`,
    });
    const [settings] = (await loadComponents(dir, { APP_PASSWORD: SECRET })).bindings;
    expect(settings?.redisPassword).toBe(SECRET);
  });

  it("resolves secretKeyRef through a file store", async () => {
    await writeFile(
      path.join(dir, "secrets.json"),
      JSON.stringify({ redis: { password: SECRET, host: "h1,h2" } }),
    );
    await write({
      "cache.yaml": `${binding(
        "cache",
        `  - name: redisHost
    secretKeyRef: { name: "redis:host" }
  - name: redisPassword
    secretKeyRef:
      name: "redis:password"
      key: "redis:password"`,
        "auth:\n  secretStore: file-secrets\n",
      )}---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: file-secrets
spec:
  type: secretstores.local.file
  version: v1
  metadata:
  - name: secretsFile
    value: secrets.json
`,
    });
    const [settings] = (await loadComponents(dir, {})).bindings;
    expect(settings?.redisPassword).toBe(SECRET);
    expect(settings?.addresses.map((address) => address.host)).toEqual(["h1", "h2"]);
  });

  it("reports a missing secret without its value", async () => {
    await writeFile(path.join(dir, "secrets.json"), JSON.stringify({ other: SECRET }));
    await write({
      "cache.yaml": `${binding(
        "cache",
        `${HOST}\n  - name: redisPassword\n    secretKeyRef: { name: password }`,
        "auth:\n  secretStore: files\n",
      )}---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: files }
spec:
  type: secretstores.local.file
  metadata: [{ name: secretsFile, value: secrets.json }]
`,
    });
    const error = await loadError();
    expect(error.component).toBe("cache");
    expect(error.field).toBe("redisPassword");
    expect(error.message).toMatch(/secret "password" not found in secret store "files"/);
    expect(error.message).not.toContain(SECRET);
  });

  it("reports a missing store", async () => {
    await write({
      "cache.yaml": binding(
        "cache",
        `${HOST}\n  - name: redisPassword\n    secretKeyRef: { name: password }`,
        "auth:\n  secretStore: vault\n",
      ),
    });
    const error = await loadError();
    expect(error.field).toBe("redisPassword");
    expect(error.reason).toMatch(/secret store "vault"/);
  });

  it("reports secretKeyRef without auth.secretStore", async () => {
    await write({
      "cache.yaml": binding(
        "cache",
        `${HOST}\n  - name: redisPassword\n    secretKeyRef: { name: p }`,
      ),
    });
    expect((await loadError()).reason).toMatch(/auth\.secretStore/);
  });

  it("reports a store of a type this worker does not support", async () => {
    await write({
      "cache.yaml": binding(
        "cache",
        `${HOST}\n  - name: redisPassword\n    secretKeyRef: { name: p }`,
        "auth:\n  secretStore: kv\n",
      ),
      "kv.yaml": `apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: kv }
spec: { type: secretstores.azure.keyvault, version: v1, metadata: [] }
`,
    });
    const error = await loadError();
    expect(error.reason).toMatch(/secretstores\.azure\.keyvault.*not support/);
  });

  it("does not open a store nobody uses", async () => {
    await write({
      "cache.yaml": binding("cache", HOST),
      "files.yaml": `apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: files }
spec:
  type: secretstores.local.file
  metadata: [{ name: secretsFile, value: absent.json }]
`,
    });
    const loaded = await loadComponents(dir, {});
    expect(loaded.bindings).toHaveLength(1);
    expect(loaded.ignored).toEqual([]);
  });

  it("never puts a secret into a validation error", async () => {
    await write({
      "cache.yaml": binding(
        "cache",
        `${HOST}\n  - name: readTimeout\n    envRef: TIMEOUT\n  - name: redisPassword\n    envRef: PASSWORD`,
      ),
    });
    const error = await loadError({ TIMEOUT: SECRET, PASSWORD: SECRET });
    expect(error.field).toBe("readTimeout");
    expect(error.message).not.toContain(SECRET);
  });

  it("refuses two sources for one value", async () => {
    await write({
      "cache.yaml": binding(
        "cache",
        `${HOST}\n  - name: redisPassword\n    value: a\n    envRef: B`,
      ),
    });
    const error = await loadError({ B: "b" });
    expect(error.field).toBe("redisPassword");
    expect(error.reason).toMatch(/only one of/);
  });
});

describe("configuration errors", () => {
  it("reports malformed YAML on one line with file and line", async () => {
    await write({
      "cache.yaml": `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: cache
spec:
  type: bindings.redis
  metadata:
  - name: redisPassword
    value: "${SECRET}
  - name: redisHost
    value: [localhost
`,
    });
    const error = await loadError();
    expect(error.file).toBe(path.join(dir, "cache.yaml"));
    expect(error.message).not.toContain("\n");
    expect(error.message).toMatch(/invalid YAML at line \d+, column \d+: /);
    expect(error.message).not.toContain(SECRET);
  });

  it("reports the line of a duplicate key", async () => {
    await write({ "cache.yaml": "kind: Component\nkind: Component\n" });
    const error = await loadError();
    expect(error.message).toContain(path.join(dir, "cache.yaml"));
    expect(error.message).toMatch(/line 2, column 1: Map keys must be unique$/);
  });

  it("reports a missing directory", async () => {
    const missing = path.join(dir, "nope");
    await expect(loadComponents(missing, {})).rejects.toThrow(
      `${missing}: components directory does not exist`,
    );
  });

  it("reports a directory without bindings.redis", async () => {
    await write({
      "state.yaml": `apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: statestore }
spec: { type: state.redis, version: v1 }
`,
    });
    const error = await loadError();
    expect(error.message).toBe(`${dir}: no bindings.redis component found`);
  });

  it("reports an empty directory", async () => {
    expect((await loadError()).message).toMatch(/no bindings\.redis component found/);
  });

  it("reports duplicate binding names, naming both files", async () => {
    await write({ "a.yaml": binding("cache", HOST), "b.yaml": binding("cache", HOST) });
    const error = await loadError();
    expect(error.component).toBe("cache");
    expect(error.message).toContain(path.join(dir, "a.yaml"));
    expect(error.message).toContain(path.join(dir, "b.yaml"));
  });

  it.each(["my cache", "my.cache", "cache*", "cache>"])(
    "refuses %j as a binding name",
    async (name) => {
      await write({ "cache.yaml": binding(JSON.stringify(name), HOST) });
      const error = await loadError();
      expect(error.component).toBe(name);
      expect(error.field).toBe("metadata.name");
      expect(error.reason).toMatch(/NATS subject token/);
    },
  );

  it("reports a field error with file, component and field", async () => {
    await write({
      "cache.yaml": binding("cache", `${HOST}\n  - name: redisType\n    value: sentinel`),
    });
    const error = await loadError();
    expect(error.message).toBe(
      `${path.join(dir, "cache.yaml")}, component "cache", field "redisType": unknown redisType: expected "node" or "cluster" (got "sentinel")`,
    );
  });

  it("reports a missing redisHost", async () => {
    await write({ "cache.yaml": binding("cache", "  - name: redisDB\n    value: '1'") });
    const error = await loadError();
    expect(error.field).toBe("redisHost");
    expect(error.reason).toBe("is required");
  });

  it("reports a bindings.redis component without metadata", async () => {
    await write({ "cache.yaml": binding("cache", "    []") });
    expect((await loadError()).field).toBe("redisHost");
  });

  it("reports structural problems by path", async () => {
    await write({
      "cache.yaml": `apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: cache }
spec: { version: v1 }
`,
    });
    const error = await loadError();
    expect(error.component).toBe("cache");
    expect(error.field).toBe("spec.type");
    expect(error.reason).toBe("is required");
  });

  it("reports a metadata entry without a name", async () => {
    await write({ "cache.yaml": binding("cache", `${HOST}\n  - value: x`) });
    const error = await loadError();
    expect(error.field).toBe("spec.metadata[1].name");
  });

  it("refuses a structured value", async () => {
    await write({ "cache.yaml": binding("cache", `${HOST}\n  - name: redisDB\n    value: [1]`) });
    const error = await loadError();
    expect(error.field).toBe("redisDB");
    expect(error.reason).toMatch(/string, number or boolean/);
  });

  it("refuses a document that is not a mapping", async () => {
    await write({ "cache.yaml": `${binding("cache", HOST)}---\n- just\n- a list\n` });
    expect((await loadError()).reason).toMatch(/document 2 is not a mapping/);
  });

  it("checks apiVersion and version of a binding", async () => {
    await write({
      "cache.yaml": binding("cache", HOST).replace("dapr.io/v1alpha1", "dapr.io/v2"),
    });
    expect((await loadError()).field).toBe("apiVersion");
    await write({ "cache.yaml": binding("cache", HOST).replace("version: v1", "version: v2") });
    expect((await loadError()).field).toBe("spec.version");
  });
});
