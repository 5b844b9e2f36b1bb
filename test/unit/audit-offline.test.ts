import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

/**
 * scripts/audit-offline.mjs against small advisory databases laid out as the
 * github/advisory-database checkout is, naming packages this project really
 * locks: it must flag an installed version inside a range, pass one outside,
 * and never report a wrong path as clean.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SCRIPT = join(ROOT, "scripts/audit-offline.mjs");
const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
  packages: Record<string, { version?: string; dev?: boolean }>;
};
const installed = (name: string) => {
  const version = lock.packages[`node_modules/${name}`]?.version;
  if (version === undefined) throw new Error(`${name} is not in package-lock.json`);
  return version;
};

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Advisory {
  id: string;
  name: string;
  events: Record<string, string>[];
  withdrawn?: string;
}

function database(advisories: Advisory[]): string {
  const dir = mkdtempSync(join(tmpdir(), "rbw-advisories-"));
  dirs.push(dir);
  for (const { id, name, events, withdrawn } of advisories) {
    const at = join(dir, "advisories/github-reviewed/2026/01", id);
    mkdirSync(at, { recursive: true });
    const osv = {
      id,
      summary: `test advisory for ${name}`,
      ...(withdrawn ? { withdrawn } : {}),
      database_specific: { severity: "HIGH" },
      affected: [{ package: { ecosystem: "npm", name }, ranges: [{ type: "ECOSYSTEM", events }] }],
    };
    writeFileSync(join(at, `${id}.json`), JSON.stringify(osv));
  }
  return dir;
}

function audit(...args: string[]) {
  const run = spawnSync(process.execPath, [SCRIPT, ...args], { cwd: ROOT, encoding: "utf8" });
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

describe("audit-offline", () => {
  it("flags a production package whose installed version an advisory covers", () => {
    const version = installed("ioredis");
    const db = database([
      {
        id: "GHSA-test-0001-aaaa",
        name: "ioredis",
        events: [{ introduced: "0" }, { fixed: "999.0.0" }],
      },
    ]);
    const { status, out } = audit(db);
    expect(out).toContain("GHSA-test-0001-aaaa");
    expect(out).toContain(`ioredis@${version}`);
    expect(status).toBe(1);
  });

  it("passes versions outside every range, and skips withdrawn advisories", () => {
    const db = database([
      {
        id: "GHSA-test-0002-bbbb",
        name: "ioredis",
        events: [{ introduced: "0" }, { fixed: "0.0.1" }],
      },
      {
        id: "GHSA-test-0003-cccc",
        name: "pino",
        events: [{ introduced: "0" }],
        withdrawn: "2026-01-02T00:00:00Z",
      },
    ]);
    const { status, out } = audit(db);
    expect(out).not.toContain("GHSA-test-0002-bbbb");
    expect(out).not.toContain("GHSA-test-0003-cccc");
    expect(status).toBe(0);
  });

  it("leaves dev-only packages out unless --include-dev", () => {
    const db = database([
      { id: "GHSA-test-0004-dddd", name: "vitest", events: [{ introduced: "0" }] },
    ]);
    expect(audit(db).status).toBe(0);
    const withDev = audit(db, "--include-dev");
    expect(withDev.out).toContain("GHSA-test-0004-dddd");
    expect(withDev.status).toBe(1);
  });

  it("refuses a path that holds no advisory instead of passing it", () => {
    const empty = mkdtempSync(join(tmpdir(), "rbw-advisories-empty-"));
    dirs.push(empty);
    expect(audit(empty).status).toBe(2);
  });
});
