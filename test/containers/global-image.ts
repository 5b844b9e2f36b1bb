import { spawnSync } from "node:child_process";
import { IMAGE, REPO_ROOT } from "./docker.js";

/**
 * Global setup of `npm run test:containers`: a Docker engine must answer and
 * the image is built once, from the Dockerfile, under the tag
 * docker-compose.yml uses, so the compose suite runs the same image.
 */
export default function buildImage(): void {
  const env = { ...process.env, DOCKER_BUILDKIT: "0" };
  const engine = spawnSync("docker", ["version", "--format", "{{.Server.Version}}"], {
    env,
    encoding: "utf8",
    timeout: 30_000,
  });
  if (engine.status !== 0) {
    throw new Error(
      "test:containers needs a Docker engine: none answers " +
        `(${(engine.stderr || engine.error?.message || "").trim()}). On a bare Debian machine: ` +
        "`containers setup && containers base` from the shared tools " +
        '(README, "Running in containers").',
    );
  }
  const started = Date.now();
  const build = spawnSync("docker", ["build", "--quiet", "--tag", IMAGE, "."], {
    cwd: REPO_ROOT,
    env,
    encoding: "utf8",
    timeout: 15 * 60_000,
  });
  if (build.status !== 0) {
    throw new Error(`docker build failed:\n${build.stderr}\n${build.stdout}`);
  }
  process.stdout.write(
    `[containers] built ${IMAGE} in ${Math.round((Date.now() - started) / 1000)}s\n`,
  );
}
