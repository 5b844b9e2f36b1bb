import { readFileSync } from "node:fs";

/** The package version, read once; ADR-32 INFO and logs report it. */
export const VERSION: string = (() => {
  try {
    const url = new URL("../package.json", import.meta.url);
    return (JSON.parse(readFileSync(url, "utf8")) as { version: string }).version;
  } catch {
    return "0.0.0";
  }
})();

export const SERVICE_NAME = "redis-binding";
