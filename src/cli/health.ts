import { parseArgs } from "node:util";
import { durationMs } from "../client/duration.js";
import { EXIT, usageError } from "./errors.js";

export const HEALTH_HELP = `Usage: redis-binding-worker health [--live] [--port N] [--timeout D]

Asks a worker on this host for /readyz (or /livez with --live) and exits 0 when it
answers 200. Meant for container health checks, where no curl or wget may exist.

Options:
  --live         check /livez (the process answers) instead of /readyz (serving)
  --port N       the worker's HTTP port (default: HTTP_PORT, else 8080)
  --timeout D    give up after this long (default 2s)
  -h, --help     this text

Exit codes: 0 healthy, 1 not healthy or no answer, 2 bad usage.`;

export async function runHealth(args: string[]): Promise<number> {
  let values: ReturnType<typeof parseHealthArgs>["values"];
  try {
    values = parseHealthArgs(args).values;
  } catch (error) {
    throw usageError((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${HEALTH_HELP}\n`);
    return EXIT.ok;
  }
  const portText = values.port ?? process.env.HTTP_PORT?.trim() ?? "8080";
  const port = Number(portText === "" ? "8080" : portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw usageError(
      `no health port to ask: "${portText}" is not a port (HTTP_PORT=0 disables it)`,
    );
  }
  let timeoutMs: number;
  try {
    timeoutMs = durationMs(values.timeout ?? "2s", "--timeout");
  } catch (error) {
    throw usageError((error as Error).message);
  }
  const url = `http://127.0.0.1:${port}/${values.live ? "livez" : "readyz"}`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await response.text()).trim();
    (response.ok ? process.stdout : process.stderr).write(`${response.status} ${body}\n`);
    return response.ok ? EXIT.ok : EXIT.failed;
  } catch (error) {
    process.stderr.write(`${url}: ${(error as Error).message}\n`);
    return EXIT.failed;
  }
}

function parseHealthArgs(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      live: { type: "boolean" },
      port: { type: "string" },
      timeout: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}
