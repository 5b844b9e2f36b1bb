/**
 * Latency samples in microseconds, kept whole so percentiles are exact.
 * A run of a few seconds holds at most a few hundred thousand samples.
 */
export class LatencyRecorder {
  private samples = new Float64Array(1 << 16);
  private size = 0;

  record(micros: number): void {
    if (this.size === this.samples.length) {
      const grown = new Float64Array(this.samples.length * 2);
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.size++] = micros;
  }

  get count(): number {
    return this.size;
  }

  /** p in [0, 100]; the sample at that rank (nearest-rank method). */
  percentiles(...ps: number[]): number[] {
    if (this.size === 0) return ps.map(() => Number.NaN);
    const sorted = this.samples.slice(0, this.size).sort();
    return ps.map((p) => {
      const rank = Math.min(this.size - 1, Math.max(0, Math.ceil((p / 100) * this.size) - 1));
      return sorted[rank] ?? Number.NaN;
    });
  }
}

export function nowMicros(): number {
  return Number(process.hrtime.bigint()) / 1000;
}
