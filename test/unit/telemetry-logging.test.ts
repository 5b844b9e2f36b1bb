import { Writable } from "node:stream";
import { context, diag, propagation, ROOT_CONTEXT, trace } from "@opentelemetry/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { routeDiagnostics } from "../../src/telemetry/diagnostics.js";
import type { HeaderCarrier } from "../../src/telemetry/instrumentation.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { startTelemetry } from "../../src/telemetry/sdk.js";
import type { Telemetry } from "../../src/telemetry/telemetry.js";
import { HEADER_GETTER } from "../../src/telemetry/trace-headers.js";

/** A pino destination that keeps the parsed lines. */
function sink(): { stream: Writable; lines: Record<string, unknown>[]; text: () => string } {
  const lines: Record<string, unknown>[] = [];
  let raw = "";
  const stream = new Writable({
    write(chunk, _encoding, done) {
      raw += String(chunk);
      for (const line of String(chunk).split("\n")) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { stream, lines, text: () => raw };
}

const headers = (entries: Record<string, string>): HeaderCarrier => ({
  get: (name) => entries[name] ?? "",
  keys: () => Object.keys(entries),
});

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID = "b7ad6b7169203331";

/**
 * The SDK bootstrap with nothing configured, and the log side of telemetry:
 * trace ids on lines, redaction, the SDK's own messages.
 */
describe("telemetry without any OTEL_* setting", () => {
  let telemetry: Telemetry;
  const startup = sink();

  beforeAll(async () => {
    for (const name of Object.keys(process.env)) {
      if (name.startsWith("OTEL_")) delete process.env[name];
    }
    telemetry = await startTelemetry({ log: createLogger("debug", startup.stream) });
  });

  afterAll(async () => {
    await telemetry?.shutdown();
  });

  it("records no span at all: no exporter, so nothing to pay for and nothing sent", () => {
    const span = trace.getTracer("test").startSpan("anything");
    expect(span.isRecording()).toBe(false);
    span.end();
  });

  it("still reads the caller's trace context, so log lines carry the caller's trace id", () => {
    const out = sink();
    const log = createLogger("info", out.stream);
    const parent = propagation.extract(
      ROOT_CONTEXT,
      headers({ traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` }),
      HEADER_GETTER,
    );
    const span = trace.getTracer("test").startSpan("request", {}, parent);
    context.with(trace.setSpan(parent, span), () => log.info("inside"));
    log.info("outside");
    expect(out.lines[0]).toMatchObject({ msg: "inside", trace_id: TRACE_ID });
    expect(out.lines[0]?.span_id).toMatch(/^[0-9a-f]{16}$/);
    expect(out.lines[1]).toMatchObject({ msg: "outside" });
    expect(out.lines[1]).not.toHaveProperty("trace_id");
  });

  it("finds trace headers whatever their case (a Go caller writes Traceparent)", () => {
    const carrier = headers({ Traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, other: "x" });
    expect(HEADER_GETTER.get(carrier, "traceparent")).toBe(`00-${TRACE_ID}-${PARENT_ID}-01`);
    expect(HEADER_GETTER.get(carrier, "tracestate")).toBeUndefined();
    const parent = propagation.extract(ROOT_CONTEXT, carrier, HEADER_GETTER);
    expect(trace.getSpanContext(parent)?.traceId).toBe(TRACE_ID);
  });

  it("blanks secrets, and the arguments ioredis hangs on its errors, wherever they are logged", () => {
    const out = sink();
    const log = createLogger("info", out.stream);
    const authFailure = Object.assign(new Error("WRONGPASS invalid username-password pair"), {
      command: { name: "auth", args: ["default", "hunter2-password"] },
    });
    log.warn({ err: authFailure }, "redis auth failed");
    log.info({ settings: { redisPassword: "hunter2-password", natsToken: "t0ken-value" } }, "x");
    expect(out.text()).not.toContain("hunter2-password");
    expect(out.text()).not.toContain("t0ken-value");
    expect(out.text()).toContain("WRONGPASS");
    expect(out.lines[0]).toMatchObject({ err: { command: { name: "auth", args: "****" } } });
  });

  it("writes the SDK's own messages as JSON log lines, without the objects they pass", () => {
    const out = sink();
    routeDiagnostics(createLogger("trace", out.stream), "warn");
    diag.warn(
      "export failed",
      { headers: { authorization: "Bearer s3cret" } },
      new Error("ECONNREFUSED"),
    );
    diag.info("not at this level");
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]).toMatchObject({
      level: "warn",
      component: "opentelemetry",
      msg: "export failed",
      details: "ECONNREFUSED",
    });
    expect(out.text()).not.toContain("s3cret");
  });
});
