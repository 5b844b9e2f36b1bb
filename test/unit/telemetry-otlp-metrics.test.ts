import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { otlpMetricReaders } from "../../src/telemetry/otlp-metrics.js";

/** When the worker pushes metrics over OTLP: only when asked, never by default. */
describe("OTLP metric export", () => {
  let saved: NodeJS.ProcessEnv;

  beforeEach(() => {
    saved = { ...process.env };
    for (const name of Object.keys(process.env)) {
      if (name.startsWith("OTEL_")) delete process.env[name];
    }
  });

  afterEach(() => {
    process.env = saved;
  });

  const readers = async () => {
    const made = await otlpMetricReaders();
    await Promise.all(made.map((reader) => reader.shutdown()));
    return made.length;
  };

  it("pushes nothing when no OTEL_* variable is set", async () => {
    expect(await readers()).toBe(0);
  });

  it("pushes once an OTLP endpoint is set, whatever the protocol", async () => {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:4318";
    expect(await readers()).toBe(1);
    process.env.OTEL_EXPORTER_OTLP_PROTOCOL = "http/json";
    expect(await readers()).toBe(1);
    process.env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL = "grpc";
    expect(await readers()).toBe(1);
  });

  it("pushes nothing with OTEL_METRICS_EXPORTER=none or prometheus (served on /metrics anyway)", async () => {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:4318";
    process.env.OTEL_METRICS_EXPORTER = "none";
    expect(await readers()).toBe(0);
    process.env.OTEL_METRICS_EXPORTER = "prometheus";
    expect(await readers()).toBe(0);
  });

  it("pushes to the default endpoint when OTEL_METRICS_EXPORTER=otlp asks for it explicitly", async () => {
    process.env.OTEL_METRICS_EXPORTER = "otlp";
    expect(await readers()).toBe(1);
  });
});
