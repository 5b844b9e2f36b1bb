/**
 * npm run bench: the limit (bare NATS responder), the peer (a hand-written
 * NATS -> ioredis responder) and the worker as users run it, side by side in
 * one run, with the same load generator and payloads; and the worker once
 * more through its durable (JetStream) intake.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { natsServer, redisServer } from "../test/harness/servers.js";
import { durableSender } from "./durable.js";
import { closedLoop, directSend, type LoadResult, openLoop } from "./load.js";
import { childPid, cpuTimeMs, rssMiB } from "./proc-stats.js";
import { type BenchReport, type Measurement, table, writeResults } from "./report.js";
import { startTarget, type TargetName } from "./targets.js";
import { KEY_COUNT, type OperationMix, workload } from "./workload.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "2" },
    rate: { type: "string", default: "2000" },
    workers: { type: "string", default: "1" },
    targets: { type: "string", default: "limit,peer,worker,worker-traced,worker-durable" },
    mixes: { type: "string", default: "create,get,mix" },
    // One mix is enough to price the JetStream round trips, and keeps the run short.
    "durable-mixes": { type: "string", default: "mix" },
    concurrency: { type: "string", default: "1,64,256" },
    "nats-url": { type: "string" },
    "redis-url": { type: "string" },
    "soak-requests": { type: "string", default: "0" },
    out: { type: "string", default: "bench/results" },
  },
});

const seconds = Number(values.seconds);
const rate = Number(values.rate);
const workers = Number(values.workers);
const targets = (values.targets ?? "").split(",") as TargetName[];
const mixes = (values.mixes ?? "").split(",") as OperationMix[];
const durableMixes = (values["durable-mixes"] ?? "").split(",") as OperationMix[];
const concurrencies = (values.concurrency ?? "").split(",").map(Number);
const soakRequests = Number(values["soak-requests"]);
const SUBJECT = "bindings.cache";
/** The same binding's durable intake (`<prefix>.durable.<name>`). */
const DURABLE_SUBJECT = "bindings.durable.cache";
// Long enough for the JIT to settle: the first mix measured would otherwise pay for it.
const WARMUP_MS = 2000;

/** Swallows OTLP exports so the traced worker pays for exporting, as in production. */
async function startOtlpSink(): Promise<{ url: string; close(): void }> {
  const server = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => server.close(),
  };
}

async function main(): Promise<void> {
  // JetStream for the durable run; the worker creates its stream and consumer itself.
  const nats = values["nats-url"] ? undefined : await natsServer({ jetstream: true });
  // nats-server's CPU is counted too: the durable intake's cost is mostly there.
  const natsPid = nats ? childPid("nats-server") : undefined;
  const natsCpuMs = () => (natsPid === undefined ? Number.NaN : cpuTimeMs(natsPid));
  const redis = values["redis-url"] ? undefined : await redisServer();
  const natsUrl = values["nats-url"] ?? (nats?.url as string);
  const redisUrl = values["redis-url"] ?? (redis?.url as string);
  const redisAddress = new URL(redisUrl);
  const sink = await startOtlpSink();
  const nc = await connect({ servers: natsUrl });

  // Every get finds a value: fill the key space once.
  const direct = new Redis(redisUrl);
  const value = JSON.stringify({ Hello: "World", Lorem: "Ipsum" });
  const pipeline = direct.pipeline();
  for (let key = 0; key < KEY_COUNT; key++) pipeline.set(`bench:${key}`, value);
  await pipeline.exec();
  direct.disconnect();

  const report: BenchReport = {
    when: new Date().toISOString(),
    machine: { cpus: (await import("node:os")).availableParallelism(), node: process.version },
    settings: { seconds, rate, workers, targets, mixes, durableMixes, concurrencies },
    measurements: [],
    rss: {},
  };

  try {
    for (const name of targets) {
      const target = await startTarget(name, {
        natsUrl,
        redisUrl,
        redisHostPort: `${redisAddress.hostname}:${redisAddress.port}`,
        otlpEndpoint: sink.url,
        workers,
      });
      const rssBefore = target.pids.reduce((sum, pid) => sum + rssMiB(pid), 0);
      const sender =
        target.intake === "durable"
          ? durableSender(nc, DURABLE_SUBJECT)
          : { send: directSend(nc, SUBJECT), close() {} };
      const { send } = sender;
      try {
        // The limit never touches Redis: one pass stands for every mix.
        const targetMixes =
          name === "limit"
            ? (["create"] as OperationMix[])
            : target.intake === "durable"
              ? durableMixes
              : mixes;
        for (const mix of targetMixes) {
          const work = workload(mix);
          await closedLoop(send, work, 64, WARMUP_MS);
          const measure = async (mode: string, run: () => Promise<LoadResult>) => {
            const cpuBefore = target.pids.reduce((sum, pid) => sum + cpuTimeMs(pid), 0);
            const natsBefore = natsCpuMs();
            const result = await run();
            const cpuAfter = target.pids.reduce((sum, pid) => sum + cpuTimeMs(pid), 0);
            const requests = Math.max(1, result.requests);
            const measurement: Measurement = {
              ...result,
              target: name,
              mix,
              mode,
              cpuMsPerRequest: (cpuAfter - cpuBefore) / requests,
              natsCpuMsPerRequest: (natsCpuMs() - natsBefore) / requests,
            };
            report.measurements.push(measurement);
            process.stderr.write(
              `${name.padEnd(14)} ${mix.padEnd(6)} ${mode.padEnd(9)} ${Math.round(result.throughput)} req/s p50 ${(result.p50Us / 1000).toFixed(2)} ms p99 ${(result.p99Us / 1000).toFixed(2)} ms errors ${result.errors}\n`,
            );
          };
          for (const concurrency of concurrencies) {
            await measure(`c${concurrency}`, () =>
              closedLoop(send, work, concurrency, seconds * 1000),
            );
          }
          await measure(`open${rate}`, () => openLoop(send, work, rate, seconds * 1000));
        }
        if (soakRequests > 0 && name.startsWith("worker")) {
          // RSS must stay flat: run the requested number of requests at 256 in flight.
          const work = workload("mix");
          let done = 0;
          while (done < soakRequests) {
            done += (await closedLoop(send, work, 256, 5000)).requests;
            process.stderr.write(
              `${name} soak: ${done} requests, RSS ${target.pids.reduce((s, p) => s + rssMiB(p), 0).toFixed(1)} MiB\n`,
            );
          }
        }
        report.rss[name] = {
          beforeMiB: rssBefore,
          afterMiB: target.pids.reduce((sum, pid) => sum + rssMiB(pid), 0),
        };
      } finally {
        sender.close();
        await target.stop();
      }
    }
  } finally {
    await nc.close();
    sink.close();
    await Promise.all([nats?.close(), redis?.close()]);
  }

  process.stdout.write(`\n${table(report)}\n`);
  const files = await writeResults(report, values.out ?? "bench/results");
  process.stdout.write(`\nwrote ${files.join(", ")}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
