import { parseArgs } from "node:util";
import { createInbox, type NatsConnection } from "@nats-io/transport-node";
import { durationMs } from "../client/duration.js";
import type { PingResponse, StatsResponse } from "../transport/discovery.js";
import { discoverySubject } from "../transport/discovery.js";
import { SERVICE_NAME } from "../version.js";
import { EXIT, usageError } from "./errors.js";
import { cliRuntimeSettings, connectCli } from "./nats.js";

export const SERVICES_HELP = `Usage: redis-binding-worker services [options]

Lists the running workers and what each one has served. Every worker answers the
NATS service discovery requests $SRV.PING and $SRV.STATS; this command sends both
and collects the answers for a short window.

Options:
  --wait D       how long to collect answers (default 500ms)
  --name NAME    the service name the workers register (default ${SERVICE_NAME})
  --json         print the STATS answers as JSON instead of a table
  -h, --help     this text

NATS: NATS_URL and the other NATS_* settings, as for the worker.

Exit codes: 0 at least one worker answered, 2 bad usage, 3 none answered or NATS
unreachable.`;

export interface WorkerReport {
  readonly ping: PingResponse;
  readonly stats: StatsResponse | undefined;
}

export async function runServices(args: string[]): Promise<number> {
  let values: ReturnType<typeof parseServicesArgs>["values"];
  try {
    values = parseServicesArgs(args).values;
  } catch (error) {
    throw usageError((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${SERVICES_HELP}\n`);
    return EXIT.ok;
  }
  let waitMs: number;
  try {
    waitMs = durationMs(values.wait ?? "500ms", "--wait");
  } catch (error) {
    throw usageError((error as Error).message);
  }
  const name = values.name ?? SERVICE_NAME;
  const nc = await connectCli(cliRuntimeSettings());
  try {
    const workers = await discoverWorkers(nc, name, waitMs);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(workers.map(asJson), null, 2)}\n`);
    } else {
      process.stdout.write(formatTable(workers, name, waitMs));
    }
    if (workers.length === 0) {
      process.stderr.write(`no ${name} workers answered within ${waitMs}ms\n`);
      return EXIT.unreachable;
    }
    return EXIT.ok;
  } finally {
    await nc.close();
  }
}

function parseServicesArgs(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      wait: { type: "string" },
      name: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/** PING says who is there; STATS, sent at the same time, what each has done. Joined by id. */
export async function discoverWorkers(
  nc: NatsConnection,
  name: string,
  waitMs: number,
): Promise<WorkerReport[]> {
  const [pings, stats] = await Promise.all([
    collect<PingResponse>(nc, discoverySubject("PING", name), waitMs),
    collect<StatsResponse>(nc, discoverySubject("STATS", name), waitMs),
  ]);
  const statsById = new Map(stats.map((answer) => [answer.id, answer]));
  // A worker whose STATS came but whose PING got lost still counts.
  const ids = new Map(pings.map((ping) => [ping.id, ping]));
  for (const answer of stats) {
    if (!ids.has(answer.id)) {
      ids.set(answer.id, { ...answer, type: "io.nats.micro.v1.ping_response" });
    }
  }
  return [...ids.values()]
    .map((ping) => ({ ping, stats: statsById.get(ping.id) }))
    .sort((a, b) => a.ping.id.localeCompare(b.ping.id));
}

/** Every answer that arrives on one inbox within the window (ADR-32 asks all instances). */
async function collect<T>(nc: NatsConnection, subject: string, waitMs: number): Promise<T[]> {
  const inbox = createInbox();
  const answers: T[] = [];
  const sub = nc.subscribe(inbox, {
    callback: (error, msg) => {
      if (error) return;
      try {
        answers.push(msg.json<T>());
      } catch {
        // Not JSON: not an ADR-32 answer; skip it.
      }
    },
  });
  // The subscription must reach the server before anyone can answer to it.
  await nc.flush();
  nc.publish(subject, undefined, { reply: inbox });
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  sub.unsubscribe();
  return answers;
}

function asJson(worker: WorkerReport): unknown {
  return worker.stats ?? worker.ping;
}

function formatTable(workers: readonly WorkerReport[], name: string, waitMs: number): string {
  const rows: string[][] = [
    ["WORKER", "VERSION", "BINDING", "SUBJECT", "REQUESTS", "ERRORS", "AVG", "LAST ERROR"],
  ];
  let requests = 0;
  for (const { ping, stats } of workers) {
    const endpoints = stats?.endpoints ?? [];
    if (endpoints.length === 0) rows.push([ping.id, ping.version, "-", "-", "-", "-", "-", ""]);
    for (const endpoint of endpoints) {
      requests += endpoint.num_requests;
      rows.push([
        ping.id,
        ping.version,
        endpoint.name,
        endpoint.subject,
        String(endpoint.num_requests),
        String(endpoint.num_errors),
        formatNanos(endpoint.average_processing_time),
        endpoint.last_error,
      ]);
    }
  }
  const widths = rows[0]?.map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? "").length)),
  );
  const lines = rows.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths?.[column] ?? 0))
      .join("  ")
      .trimEnd(),
  );
  const summary = `${workers.length} ${name} worker${workers.length === 1 ? "" : "s"} answered within ${waitMs}ms, ${requests} requests served`;
  return `${workers.length > 0 ? `${lines.join("\n")}\n` : ""}${summary}\n`;
}

/** ADR-32 times are nanoseconds; people read milliseconds. */
function formatNanos(ns: number): string {
  if (ns === 0) return "0";
  const ms = ns / 1e6;
  return ms >= 100 ? `${Math.round(ms)}ms` : `${ms.toPrecision(3)}ms`;
}
