import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

/**
 * CI has no container registry: `.ci/run` has the shared `containers` tool
 * build a local stand-in for every base image before the container tests.
 * An image added to the Dockerfile, the compose stack or the testcontainers
 * harness but not to that list fails only in CI, as a pull from a registry
 * it cannot reach; this catches it here first.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

function ciBaseImages(): string[] {
  const line = /^base_images="([^"]*)"$/m.exec(read(".ci/run"));
  if (line?.[1] === undefined) throw new Error('.ci/run has no base_images="..." line');
  return line[1].split(/\s+/).filter(Boolean);
}

interface ComposeService {
  image?: string;
  build?: unknown;
  profiles?: string[];
}

describe(".ci/run base_images", () => {
  const listed = ciBaseImages();

  it("holds the images the Dockerfile builds from (its ARG defaults)", () => {
    const defaults = [...read("Dockerfile").matchAll(/^ARG \w+_IMAGE=(\S+)$/gm)].map((m) => m[1]);
    expect(defaults.length).toBeGreaterThan(0);
    expect(listed).toEqual(expect.arrayContaining(defaults));
  });

  it("holds every image the compose stack's default profile pulls", () => {
    const compose = parse(read("docker-compose.yml")) as {
      services: Record<string, ComposeService>;
    };
    const pulled = Object.values(compose.services)
      .filter((service) => service.build === undefined && service.profiles === undefined)
      .map((service) => service.image);
    expect(pulled).toContain("redis:7");
    expect(listed).toEqual(expect.arrayContaining(pulled));
  });

  it("holds the images the testcontainers harness starts", () => {
    const images = /const IMAGES[^=]*=\s*\{([^}]*)\}/.exec(read("test/harness/servers.ts"))?.[1];
    const tags = [...(images ?? "").matchAll(/"([^"]+)"/g)].map((m) => m[1]);
    expect(tags).toEqual(["nats:2", "redis:7"]);
    expect(listed).toEqual(expect.arrayContaining(tags));
  });
});
