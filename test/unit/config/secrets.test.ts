import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createSecretStore,
  resolveSecretKeyRef,
  type SecretStore,
} from "../../../src/config/secrets.js";
import { ConfigError } from "../../../src/errors.js";

const SECRET = "Pa55-w0rd-never-print";
const where = { file: "dir/cache.yaml", component: "cache", field: "redisPassword" };

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "rbw-secrets-"));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function envStore(env: NodeJS.ProcessEnv, metadata: Record<string, string> = {}) {
  const { store } = await createSecretStore(
    {
      file: "dir/secrets.yaml",
      name: "env",
      type: "secretstores.local.env",
      metadata: new Map(Object.entries(metadata)),
    },
    { componentsDir: dir, env },
  );
  return store;
}

async function fileStore(metadata: Record<string, string>) {
  return createSecretStore(
    {
      file: "dir/secrets.yaml",
      name: "files",
      type: "secretstores.local.file",
      metadata: new Map(Object.entries(metadata)),
    },
    { componentsDir: dir, env: {} },
  );
}

function resolveError(store: SecretStore | undefined, name: string, key?: string): ConfigError {
  try {
    resolveSecretKeyRef(store, store?.name ?? "missing", { name, key }, where);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("secretstores.local.env", () => {
  it("reads a variable, with the key defaulting to the name", async () => {
    const store = await envStore({ REDIS_PASSWORD: SECRET });
    expect(resolveSecretKeyRef(store, "env", { name: "REDIS_PASSWORD" }, where)).toBe(SECRET);
    expect(
      resolveSecretKeyRef(store, "env", { name: "REDIS_PASSWORD", key: "REDIS_PASSWORD" }, where),
    ).toBe(SECRET);
  });

  it("puts its prefix in front of the name", async () => {
    const store = await envStore(
      { MYAPP_PASSWORD: SECRET, PASSWORD: "other" },
      { Prefix: "MYAPP_" },
    );
    expect(resolveSecretKeyRef(store, "env", { name: "PASSWORD" }, where)).toBe(SECRET);
  });

  it("reports a missing variable without any value", async () => {
    const store = await envStore({ OTHER: SECRET });
    const error = resolveError(store, "REDIS_PASSWORD");
    expect(error.file).toBe(where.file);
    expect(error.component).toBe("cache");
    expect(error.field).toBe("redisPassword");
    expect(error.message).toMatch(/secret "REDIS_PASSWORD" not found in secret store "env"/);
    expect(error.message).not.toContain(SECRET);
  });

  it("reports a key the secret does not have", async () => {
    const store = await envStore({ REDIS_PASSWORD: SECRET });
    const error = resolveError(store, "REDIS_PASSWORD", "password");
    expect(error.message).toMatch(/has no key "password"/);
    expect(error.message).not.toContain(SECRET);
  });

  it("refuses Dapr's own variables, as Dapr does", async () => {
    const store = await envStore({ DAPR_API_TOKEN: SECRET, APP_API_TOKEN: SECRET });
    expect(resolveError(store, "DAPR_API_TOKEN").message).toMatch(/forbidden/);
    expect(resolveError(store, "APP_API_TOKEN").message).not.toContain(SECRET);
  });

  it("warns about metadata it does not know", async () => {
    const { warnings } = await createSecretStore(
      {
        file: "f.yaml",
        name: "env",
        type: "secretstores.local.env",
        metadata: new Map([["colour", "blue"]]),
      },
      { componentsDir: dir, env: {} },
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("colour");
  });
});

describe("secretstores.local.file", () => {
  const document = {
    redis: { password: SECRET, user: "app", port: 6379, tls: true, nothing: null },
    list: ["first", "second"],
    top: "level",
  };

  it("flattens nested keys with the default separator, relative to the components dir", async () => {
    await writeFile(path.join(dir, "secrets.json"), JSON.stringify(document));
    const { store } = await fileStore({ secretsFile: "secrets.json" });
    const get = (name: string) => resolveSecretKeyRef(store, "files", { name }, where);
    expect(get("redis:password")).toBe(SECRET);
    expect(get("redis:port")).toBe("6379");
    expect(get("redis:tls")).toBe("true");
    expect(get("redis:nothing")).toBe("");
    expect(get("list:1")).toBe("second");
    expect(get("top")).toBe("level");
    expect(store.getSecret("redis")).toBeUndefined();
  });

  it("takes an absolute path and another separator", async () => {
    const nested = path.join(dir, "elsewhere");
    await mkdir(nested);
    const file = path.join(nested, "s.json");
    await writeFile(file, JSON.stringify(document));
    const { store } = await fileStore({ secretsFile: file, nestedSeparator: "." });
    expect(resolveSecretKeyRef(store, "files", { name: "redis.password" }, where)).toBe(SECRET);
  });

  it("serves several keys per secret when multiValued", async () => {
    await writeFile(path.join(dir, "secrets.json"), JSON.stringify(document));
    const { store } = await fileStore({ secretsFile: "secrets.json", multiValued: "true" });
    expect(resolveSecretKeyRef(store, "files", { name: "redis", key: "password" }, where)).toBe(
      SECRET,
    );
    expect(resolveSecretKeyRef(store, "files", { name: "top" }, where)).toBe("level");
    expect(resolveSecretKeyRef(store, "files", { name: "list", key: "0" }, where)).toBe("first");
    expect(resolveError(store, "redis", "nope").message).toMatch(/has no key "nope"/);
  });

  it("reports a missing secret", async () => {
    await writeFile(path.join(dir, "secrets.json"), JSON.stringify(document));
    const { store } = await fileStore({ secretsFile: "secrets.json" });
    const error = resolveError(store, "redis:pass");
    expect(error.message).toMatch(/secret "redis:pass" not found/);
    expect(error.message).not.toContain(SECRET);
  });

  it("needs secretsFile", async () => {
    await expect(fileStore({})).rejects.toThrow(/field "secretsFile": is required/);
  });

  it("reports an unreadable file", async () => {
    const promise = fileStore({ secretsFile: "absent.json" });
    await expect(promise).rejects.toBeInstanceOf(ConfigError);
    await expect(fileStore({ secretsFile: "absent.json" })).rejects.toThrow(/ENOENT/);
  });

  it("reports invalid JSON without quoting the file", async () => {
    await writeFile(path.join(dir, "bad.json"), `{"password": ${SECRET}}`);
    const error = await fileStore({ secretsFile: "bad.json" }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/not valid JSON/);
    expect((error as Error).message).not.toContain(SECRET);
    expect((error as Error).message).not.toContain("Pa55");
  });

  it("needs a JSON object", async () => {
    await writeFile(path.join(dir, "list.json"), "[1, 2]");
    await expect(fileStore({ secretsFile: "list.json" })).rejects.toThrow(/JSON object/);
  });

  it("refuses a bad multiValued", async () => {
    await writeFile(path.join(dir, "s.json"), "{}");
    await expect(fileStore({ secretsFile: "s.json", multiValued: "sure" })).rejects.toThrow(
      /field "multiValued"/,
    );
  });

  it("refuses keys that collide once flattened", async () => {
    await writeFile(path.join(dir, "s.json"), JSON.stringify({ "a:b": "1", a: { b: "2" } }));
    await expect(fileStore({ secretsFile: "s.json" })).rejects.toThrow(/"a:b"/);
  });
});

describe("resolveSecretKeyRef", () => {
  it("needs auth.secretStore", () => {
    expect(() => resolveSecretKeyRef(undefined, undefined, { name: "x" }, where)).toThrow(
      /auth\.secretStore/,
    );
  });

  it("reports an unknown store", () => {
    expect(() => resolveSecretKeyRef(undefined, "vault", { name: "x" }, where)).toThrow(
      /secret store "vault" \(auth\.secretStore\) is not defined/,
    );
  });

  it("refuses unsupported store types", async () => {
    await expect(
      createSecretStore(
        { file: "f.yaml", name: "kv", type: "secretstores.azure.keyvault", metadata: new Map() },
        { componentsDir: dir, env: {} },
      ),
    ).rejects.toThrow(/not supported/);
  });
});
