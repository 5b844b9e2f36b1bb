import { mkdir, writeFile } from "node:fs/promises";
import type { LoadResult } from "./load.js";

export interface Measurement extends LoadResult {
  readonly target: string;
  readonly mix: string;
  /** "c1", "c64", "c256" (closed loop) or "open2000" (fixed rate). */
  readonly mode: string;
  /** Target CPU milliseconds per request (all its processes). */
  readonly cpuMsPerRequest: number;
  /**
   * nats-server CPU milliseconds per request (NaN when the bench did not
   * start it): where a durable request's stored write and acks are paid.
   */
  readonly natsCpuMsPerRequest: number;
}

export interface BenchReport {
  readonly when: string;
  readonly machine: { cpus: number; node: string };
  readonly settings: Record<string, unknown>;
  readonly measurements: Measurement[];
  readonly rss: Record<string, { beforeMiB: number; afterMiB: number }>;
}

const fmt = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : "-");

function find(
  report: BenchReport,
  target: string,
  mix: string,
  mode: string,
): Measurement | undefined {
  return report.measurements.find((m) => m.target === target && m.mix === mix && m.mode === mode);
}

/** The limit answers without Redis, so its numbers stand for every mix. */
function limitFor(report: BenchReport, mode: string): Measurement | undefined {
  return report.measurements.find((m) => m.target === "limit" && m.mode === mode);
}

export function table(report: BenchReport): string {
  const rows = [
    "| target | mix | mode | req/s | p50 ms | p99 ms | p99.9 ms | errors | CPU µs/req | NATS µs/req | x limit | x peer | x worker |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const m of report.measurements) {
    const limit = limitFor(report, m.mode);
    const peer = find(report, "peer", m.mix, m.mode);
    // The traced and durable runs against the plain worker: what tracing or JetStream costs.
    const worker = m.target.startsWith("worker-")
      ? find(report, "worker", m.mix, m.mode)
      : undefined;
    const ratio = (other: Measurement | undefined) =>
      other && m.mode.startsWith("c") ? fmt(m.throughput / other.throughput, 2) : "-";
    rows.push(
      `| ${m.target} | ${m.target === "limit" ? "any" : m.mix} | ${m.mode} | ${fmt(m.throughput)} | ${fmt(m.p50Us / 1000, 2)} | ${fmt(m.p99Us / 1000, 2)} | ${fmt(m.p999Us / 1000, 2)} | ${m.errors} | ${fmt(m.cpuMsPerRequest * 1000, 1)} | ${fmt(m.natsCpuMsPerRequest * 1000, 1)} | ${ratio(limit)} | ${ratio(peer)} | ${ratio(worker)} |`,
    );
  }
  const rss = Object.entries(report.rss).map(
    ([target, { beforeMiB, afterMiB }]) =>
      `${target}: RSS ${fmt(beforeMiB, 1)} -> ${fmt(afterMiB, 1)} MiB`,
  );
  return [...rows, "", ...rss].join("\n");
}

const COLOURS: Record<string, string> = {
  limit: "#9e9e9e",
  peer: "#f4a261",
  worker: "#2a9d8f",
  "worker-traced": "#264653",
  "worker-durable": "#e76f51",
};

/**
 * A grouped bar chart of throughput at 256 in flight, one group per mix; a
 * target not run for a mix (the durable run has one by default) leaves a gap.
 */
export function chart(report: BenchReport): string {
  const mixes = ["create", "get", "mix"];
  const targets = ["limit", "peer", "worker", "worker-traced", "worker-durable"];
  const values = mixes.flatMap((mix) =>
    targets.flatMap((target) => {
      const m = target === "limit" ? limitFor(report, "c256") : find(report, target, mix, "c256");
      return m ? [{ mix, target, value: m.throughput }] : [];
    }),
  );
  const max = Math.max(1, ...values.map((v) => v.value));
  const width = 720;
  const height = 360;
  const left = 60;
  const bottom = 300;
  const groupWidth = (width - left - 20) / mixes.length;
  const barWidth = groupWidth / (targets.length + 1);
  const bars = values
    .map((v) => {
      const g = mixes.indexOf(v.mix);
      const t = targets.indexOf(v.target);
      const x = left + g * groupWidth + (t + 0.5) * barWidth;
      const h = ((bottom - 40) * v.value) / max;
      return `<rect x="${x.toFixed(1)}" y="${(bottom - h).toFixed(1)}" width="${(barWidth * 0.9).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLOURS[v.target]}"><title>${v.target} ${v.mix}: ${Math.round(v.value)} req/s</title></rect>
<text x="${(x + barWidth * 0.45).toFixed(1)}" y="${(bottom - h - 4).toFixed(1)}" font-size="10" text-anchor="middle">${Math.round(v.value / 100) / 10}k</text>`;
    })
    .join("\n");
  const labels = mixes
    .map(
      (mix, g) =>
        `<text x="${(left + (g + 0.5) * groupWidth).toFixed(1)}" y="${bottom + 18}" font-size="13" text-anchor="middle">${mix}</text>`,
    )
    .join("\n");
  const legend = targets
    .map(
      (target, i) =>
        `<rect x="${left + i * 130}" y="${bottom + 32}" width="12" height="12" fill="${COLOURS[target]}"/><text x="${left + i * 130 + 16}" y="${bottom + 43}" font-size="12">${target}</text>`,
    )
    .join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${left}" y="20" font-size="14">Requests/s at 256 in flight (${report.machine.cpus} CPUs, ${report.when.slice(0, 10)})</text>
<line x1="${left}" y1="${bottom}" x2="${width - 20}" y2="${bottom}" stroke="black"/>
${bars}
${labels}
${legend}
</svg>
`;
}

export async function writeResults(report: BenchReport, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files = [`${dir}/latest.json`, `${dir}/latest.svg`, `${dir}/latest.md`];
  await writeFile(files[0] as string, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(files[1] as string, chart(report));
  await writeFile(files[2] as string, `${table(report)}\n`);
  return files;
}
