#!/usr/bin/env node
/**
 * Checks the installed dependency tree against a local copy of the GitHub
 * Advisory Database (the github/advisory-database repository), for machines
 * where `npm audit` cannot reach the registry's advisory endpoint.
 *
 *   node scripts/audit-offline.mjs <advisory-db> [--include-dev]
 *   npm run audit:offline -- <advisory-db> [--include-dev]
 *
 * <advisory-db> is a bare git directory (read with `git ls-tree` and
 * `git cat-file --batch`, no work tree needed) or a checkout of the repository.
 * Only the reviewed advisories (advisories/github-reviewed) are read; of
 * those, the ones whose `affected[].package.ecosystem` is npm are matched.
 *
 * The tree comes from package-lock.json: every entry without `dev: true`, or
 * every entry with --include-dev. A version is affected when it is listed in
 * `affected[].versions` or falls in a SEMVER/ECOSYSTEM range of
 * `affected[].ranges` (introduced / fixed / last_affected events, as OSV
 * defines them). Withdrawn advisories are skipped.
 *
 * Exit status: 0 nothing affected, 1 at least one installed package affected,
 * 2 usage error or unreadable input (including a database with no npm advisory,
 * so that a wrong path never passes as a clean result).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));
const REVIEWED = "advisories/github-reviewed";

function usage(message) {
  if (message) console.error(`audit-offline: ${message}`);
  console.error(
    "usage: node scripts/audit-offline.mjs <advisory-database-git-dir-or-checkout> [--include-dev]",
  );
  process.exit(2);
}

function parseArgs(argv) {
  let includeDev = false;
  let database;
  for (const arg of argv) {
    if (arg === "--include-dev") includeDev = true;
    else if (arg === "-h" || arg === "--help") usage();
    else if (arg.startsWith("-")) usage(`unknown option ${arg}`);
    else if (database === undefined) database = arg;
    else usage(`unexpected argument ${arg}`);
  }
  if (database === undefined) usage("the advisory database path is missing");
  return { database: resolve(database), includeDev };
}

// ---------------------------------------------------------------------------
// Versions: semver 2.0 precedence, written here so the script needs nothing
// from node_modules. "0" (OSV's "from the start") sorts before everything.

/** @returns {{ parts: number[], pre: (string|number)[] } | null} */
function parseVersion(text) {
  const match = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(
    String(text).trim(),
  );
  if (match === null) return null;
  const parts = [Number(match[1]), Number(match[2] ?? 0), Number(match[3] ?? 0)];
  const pre =
    match[4] === undefined
      ? []
      : match[4].split(".").map((id) => (/^\d+$/.test(id) ? Number(id) : id));
  return { parts, pre };
}

function compareIdentifiers(a, b) {
  const aNum = typeof a === "number";
  const bNum = typeof b === "number";
  if (aNum && bNum) return a - b;
  if (aNum) return -1;
  if (bNum) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Negative, zero or positive as a < b, a = b, a > b; throws on a version it cannot read. */
function compareVersions(a, b) {
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (x === null || y === null) throw new Error(`not a version: ${x === null ? a : b}`);
  for (let i = 0; i < 3; i += 1) {
    const d = (x.parts[i] ?? 0) - (y.parts[i] ?? 0);
    if (d !== 0) return d;
  }
  if (x.pre.length === 0 || y.pre.length === 0) return y.pre.length - x.pre.length;
  for (let i = 0; i < Math.max(x.pre.length, y.pre.length); i += 1) {
    if (i >= x.pre.length) return -1;
    if (i >= y.pre.length) return 1;
    const d = compareIdentifiers(x.pre[i], y.pre[i]);
    if (d !== 0) return d;
  }
  return 0;
}

function eventVersion(event) {
  return event.introduced ?? event.fixed ?? event.last_affected ?? event.limit;
}

/** OSV's evaluation of one range: walk the events in version order. */
function inRange(version, events) {
  const sorted = [...events].sort((a, b) => {
    const va = eventVersion(a);
    const vb = eventVersion(b);
    if (va === "0") return vb === "0" ? 0 : -1;
    if (vb === "0") return 1;
    return compareVersions(va, vb);
  });
  let affected = false;
  for (const event of sorted) {
    if (event.introduced !== undefined) {
      if (event.introduced === "0" || compareVersions(version, event.introduced) >= 0)
        affected = true;
    } else if (event.fixed !== undefined) {
      if (compareVersions(version, event.fixed) >= 0) affected = false;
    } else if (event.last_affected !== undefined) {
      if (compareVersions(version, event.last_affected) > 0) affected = false;
    }
  }
  return affected;
}

function isAffected(version, affected) {
  if (Array.isArray(affected.versions) && affected.versions.includes(version)) return true;
  for (const range of affected.ranges ?? []) {
    if (range.type !== "SEMVER" && range.type !== "ECOSYSTEM") continue;
    if (inRange(version, range.events ?? [])) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// The installed tree.

/** name -> version -> lockfile paths, from package-lock.json (lockfileVersion 2 or 3). */
function installedPackages(includeDev) {
  const lockPath = join(PROJECT_ROOT, "package-lock.json");
  if (!existsSync(lockPath)) usage(`no package-lock.json in ${PROJECT_ROOT}`);
  const lock = JSON.parse(readFileSync(lockPath, "utf8"));
  if (lock.packages === undefined)
    usage("package-lock.json has no `packages` (lockfileVersion 1 is not read)");
  /** @type {Map<string, Map<string, string[]>>} */
  const packages = new Map();
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === "" || entry.link === true || entry.version === undefined) continue;
    if (entry.dev === true && !includeDev) continue;
    const name =
      entry.name ?? path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);
    const versions = packages.get(name) ?? new Map();
    const paths = versions.get(entry.version) ?? [];
    paths.push(path);
    versions.set(entry.version, paths);
    packages.set(name, versions);
  }
  return packages;
}

// ---------------------------------------------------------------------------
// The advisory database.

function git(gitDir, args) {
  const result = spawnSync("git", ["--git-dir", gitDir, ...args], {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.status !== 0) {
    throw new Error(`git ${args.join(" ")} failed: ${result.stderr || result.error?.message}`);
  }
  return result.stdout;
}

/** The git directory behind a path (bare, or a checkout's .git), or undefined. */
function gitDirOf(path) {
  const revParse = (...args) => {
    const result = spawnSync("git", ["-C", path, "rev-parse", ...args], { encoding: "utf8" });
    return result.status === 0 ? result.stdout.trim() : undefined;
  };
  const gitDir = revParse("--absolute-git-dir");
  if (gitDir === undefined || revParse("--is-bare-repository") === "true") return gitDir;
  // A plain folder inside some other repository is not a checkout of the database.
  const topLevel = revParse("--show-toplevel");
  return topLevel !== undefined && realpathSync(topLevel) === realpathSync(path)
    ? gitDir
    : undefined;
}

/** Reads blobs through one `git cat-file --batch`, calling onBlob(text) for each, in order. */
function readBlobs(gitDir, oids, onBlob) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("git", ["--git-dir", gitDir, "cat-file", "--batch"], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    let pending = Buffer.alloc(0);
    let size = -1;
    child.stdout.on("data", (chunk) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        if (size < 0) {
          const newline = pending.indexOf(10);
          if (newline < 0) return;
          const header = pending.subarray(0, newline).toString("utf8").split(" ");
          if (header[1] === "missing" || header[2] === undefined) {
            reject(new Error(`git cat-file: ${header.join(" ")}`));
            child.kill();
            return;
          }
          size = Number(header[2]);
          pending = pending.subarray(newline + 1);
        }
        if (pending.length < size + 1) return;
        onBlob(pending.subarray(0, size).toString("utf8"));
        pending = pending.subarray(size + 1);
        size = -1;
      }
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`git cat-file exited with ${code}`));
    });
    child.stdin.end(`${oids.join("\n")}\n`);
  });
}

function walkJson(dir, out) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) walkJson(full, out);
    else if (entry.isFile() && entry.name.endsWith(".json")) out.push(full);
  }
  return out;
}

/**
 * Calls onAdvisory(text, path) for every reviewed advisory file. Reads the git
 * objects when the path is a bare repository, the files of the work tree when
 * it is a checkout. Returns what is known of the database's revision.
 */
async function readAdvisories(database, onAdvisory) {
  if (!existsSync(database) || !statSync(database).isDirectory()) {
    usage(`${database} is not a directory`);
  }
  const gitDir = gitDirOf(database);
  const workTree = join(database, REVIEWED);
  let revision = { commit: "unknown (not a git repository)", date: "unknown" };
  if (gitDir !== undefined) {
    const [commit = "?", date = "?"] = git(gitDir, ["log", "-1", "--format=%H%n%cI", "HEAD"])
      .trim()
      .split("\n");
    revision = { commit, date };
  }
  if (existsSync(workTree)) {
    for (const file of walkJson(workTree, [])) onAdvisory(readFileSync(file, "utf8"), file);
    return { ...revision, source: `files under ${workTree}` };
  }
  if (gitDir === undefined) usage(`${database} has no ${REVIEWED} and is not a git repository`);
  const oids = [];
  const paths = [];
  for (const line of git(gitDir, ["ls-tree", "-r", "HEAD", "--", REVIEWED]).split("\n")) {
    // <mode> SP <type> SP <oid> TAB <path>
    const tab = line.indexOf("\t");
    if (tab < 0) continue;
    const [, type, oid] = line.slice(0, tab).split(" ");
    const path = line.slice(tab + 1);
    if (type === "blob" && path.endsWith(".json") && oid !== undefined) {
      oids.push(oid);
      paths.push(path);
    }
  }
  let index = 0;
  await readBlobs(gitDir, oids, (text) => {
    onAdvisory(text, paths[index]);
    index += 1;
  });
  return { ...revision, source: `git objects of ${gitDir} (HEAD:${REVIEWED})` };
}

function severityOf(advisory) {
  const severity = advisory.database_specific?.severity;
  if (typeof severity === "string" && severity !== "") return severity;
  return advisory.severity?.[0]?.score ?? "UNKNOWN";
}

/** The fix, as the advisory states it for this package, for the report. */
function fixOf(affected) {
  const fixed = [];
  for (const range of affected.ranges ?? []) {
    for (const event of range.events ?? []) if (event.fixed !== undefined) fixed.push(event.fixed);
  }
  if (fixed.length > 0) return `fixed in ${fixed.join(", ")}`;
  const lastKnown = affected.database_specific?.last_known_affected_version_range;
  return lastKnown ? `no fixed version; last known affected ${lastKnown}` : "no fixed version";
}

// ---------------------------------------------------------------------------

async function main() {
  const { database, includeDev } = parseArgs(process.argv.slice(2));
  const packages = installedPackages(includeDev);
  let instances = 0;
  for (const versions of packages.values()) instances += versions.size;

  let files = 0;
  let npmAdvisories = 0;
  let withdrawn = 0;
  let newest = "";
  const unreadable = [];
  const findings = [];
  const revision = await readAdvisories(database, (text, path) => {
    files += 1;
    let advisory;
    try {
      advisory = JSON.parse(text);
    } catch {
      unreadable.push(`${path}: not JSON`);
      return;
    }
    const npm = (advisory.affected ?? []).filter((a) => a.package?.ecosystem === "npm");
    if (npm.length === 0) return;
    npmAdvisories += 1;
    if (typeof advisory.modified === "string" && advisory.modified > newest)
      newest = advisory.modified;
    if (advisory.withdrawn) {
      withdrawn += 1;
      return;
    }
    for (const affected of npm) {
      const versions = packages.get(affected.package.name);
      if (versions === undefined) continue;
      for (const [version, lockPaths] of versions) {
        try {
          if (!isAffected(version, affected)) continue;
        } catch (error) {
          unreadable.push(`${advisory.id} (${affected.package.name}@${version}): ${error.message}`);
          continue;
        }
        findings.push({
          name: affected.package.name,
          version,
          id: advisory.id,
          severity: severityOf(advisory),
          summary: advisory.summary ?? (advisory.details ?? "").split("\n")[0],
          fix: fixOf(affected),
          lockPaths,
        });
      }
    }
  });

  const scope = includeDev ? "production and development" : "production";
  console.log(`advisory database: ${revision.source}`);
  console.log(`  commit ${revision.commit}, committed ${revision.date}`);
  console.log(`  newest npm advisory modified ${newest || "unknown"}`);
  console.log(
    `checked ${instances} ${scope} package versions (${packages.size} names, from package-lock.json)`,
  );
  console.log(
    `  against ${npmAdvisories} npm advisories (${withdrawn} withdrawn, skipped) among ${files} reviewed advisory files`,
  );
  for (const problem of unreadable) console.log(`  could not evaluate ${problem}`);

  if (npmAdvisories === 0) {
    console.error("audit-offline: no npm advisory found: is that the advisory database?");
    process.exit(2);
  }
  findings.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  if (findings.length === 0) {
    console.log(`no installed ${scope} package is affected by a known advisory`);
    return;
  }
  console.log(
    `${findings.length} affected ${findings.length === 1 ? "package version" : "package versions"}:`,
  );
  for (const f of findings) {
    console.log(`  ${f.name}@${f.version}  ${f.id}  ${f.severity}  ${f.summary}`);
    console.log(`    ${f.fix}; installed at ${f.lockPaths.join(", ")}`);
  }
  process.exitCode = 1;
}

main().catch((error) => {
  console.error(`audit-offline: ${error.message ?? error}`);
  process.exit(2);
});
