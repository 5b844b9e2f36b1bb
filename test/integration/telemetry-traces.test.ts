import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/telemetry/logger.js";
import { startTelemetry } from "../../src/telemetry/sdk.js";
import type { Telemetry } from "../../src/telemetry/telemetry.js";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { request } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

/**
 * Spans of real requests, through the real SDK bootstrap with an in-memory
 * exporter. Workers built by the test support pick up the global tracer
 * provider that startTelemetry registers.
 */
describe("request traces", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  let sdk: Telemetry;
  const exporter = new InMemorySpanExporter();
  const workers: TestWorker[] = [];

  beforeAll(async () => {
    const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
    sdk = await startTelemetry({
      log: createLogger("warn", quiet),
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
    });
    [nats, redis] = await Promise.all([natsServer(), redisServer()]);
    nc = await connect({ servers: nats.url });
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop()));
  });

  afterAll(async () => {
    await nc?.close();
    await Promise.all([nats?.close(), redis?.close()]);
    await sdk?.shutdown();
  });

  const start = async (metadata: Record<string, string> = {}) => {
    const worker = await startTestWorker({
      natsUrl: nats.url,
      components: [
        redisComponent("cache", { redisHost: `${redis.host}:${redis.port}`, ...metadata }),
      ],
    });
    workers.push(worker);
    return worker;
  };

  const newTrace = () => {
    const traceId = randomBytes(16).toString("hex");
    const parentId = randomBytes(8).toString("hex");
    return { traceId, parentId, traceparent: `00-${traceId}-${parentId}-01` };
  };

  const spansOf = (traceId: string): ReadableSpan[] =>
    exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);

  /** The request's CONSUMER span and the CLIENT spans, once the expected number has ended. */
  const traceOf = async (traceId: string, clientSpans: number) => {
    await expect
      .poll(() => spansOf(traceId).filter((span) => span.kind === SpanKind.CLIENT).length)
      .toBe(clientSpans);
    const spans = spansOf(traceId);
    const consumers = spans.filter((span) => span.kind === SpanKind.CONSUMER);
    expect(consumers).toHaveLength(1);
    return {
      consumer: consumers[0] as ReadableSpan,
      clients: spans.filter((span) => span.kind === SpanKind.CLIENT),
    };
  };

  it("continues the caller's trace: a CONSUMER span under its traceparent, a Redis CLIENT span under that", async () => {
    await start();
    const { traceId, parentId, traceparent } = newTrace();
    const body = JSON.stringify({
      operation: "create",
      metadata: { key: "traced-key", ttlInSeconds: "60" },
      data: { secret: "s3cr3t-stored-value" },
    });
    const reply = await request(nc, "bindings.cache", body, {
      headers: { traceparent, tracestate: "vendor=opaque" },
    });
    expect(reply.status).toBe(200);

    const { consumer, clients } = await traceOf(traceId, 1);
    expect(consumer.name).toBe("process bindings.cache");
    expect(consumer.parentSpanContext?.spanId).toBe(parentId);
    expect(consumer.parentSpanContext?.isRemote).toBe(true);
    expect(consumer.spanContext().traceState?.get("vendor")).toBe("opaque");
    expect(consumer.attributes).toMatchObject({
      "messaging.system": "nats",
      "messaging.destination.name": "bindings.cache",
      "messaging.consumer.group.name": "redis-binding",
      "messaging.operation.name": "process",
      "messaging.operation.type": "process",
      "messaging.message.body.size": Buffer.byteLength(body),
      "binding.name": "cache",
      "binding.operation": "create",
      "binding.reply.code": 200,
    });
    expect(consumer.status.code).toBe(SpanStatusCode.UNSET);

    const [set] = clients;
    expect(set?.name).toBe("SET");
    expect(set?.parentSpanContext?.spanId).toBe(consumer.spanContext().spanId);
    expect(set?.attributes).toMatchObject({
      "db.system.name": "redis",
      "db.operation.name": "SET",
      "db.query.text": "SET traced-key ? PX ?",
      "db.namespace": "0",
      "server.address": redis.host,
      "server.port": redis.port,
      "binding.redis.attempt": 1,
    });
    // Key names only: the stored value appears in no attribute of any span.
    for (const span of spansOf(traceId)) {
      expect(JSON.stringify(span.attributes)).not.toContain("s3cr3t-stored-value");
    }
  });

  it("starts a new trace for a request without traceparent", async () => {
    await start();
    const before = new Set(exporter.getFinishedSpans().map((span) => span.spanContext().spanId));
    const reply = await request(nc, "bindings.cache", {
      operation: "get",
      metadata: { key: "untraced", delete: "true" },
    });
    expect(reply.status).toBe(200);
    let consumer: ReadableSpan | undefined;
    await expect
      .poll(() => {
        consumer = exporter
          .getFinishedSpans()
          .find(
            (span) =>
              span.kind === SpanKind.CONSUMER &&
              !before.has(span.spanContext().spanId) &&
              span.attributes["binding.operation"] === "get",
          );
        return consumer !== undefined;
      })
      .toBe(true);
    expect(consumer?.parentSpanContext).toBeUndefined();
    const { clients } = await traceOf(consumer?.spanContext().traceId ?? "", 1);
    expect(clients[0]?.attributes["db.query.text"]).toBe("GETDEL untraced");
  });

  it("marks an error reply's span as an error, with the exception, and the failed command's span too", async () => {
    await start();
    await redis.cli("RPUSH", "a-list", "item");
    const { traceId, traceparent } = newTrace();
    const reply = await request(
      nc,
      "bindings.cache",
      { operation: "increment", metadata: { key: "a-list" } },
      { headers: { traceparent } },
    );
    expect(reply.status).toBe(409);

    const { consumer, clients } = await traceOf(traceId, 1);
    expect(consumer.status.code).toBe(SpanStatusCode.ERROR);
    expect(consumer.status.message).toMatch(/WRONGTYPE/);
    expect(consumer.attributes).toMatchObject({
      "binding.operation": "increment",
      "binding.reply.code": 409,
      "error.type": "ERR_VALUE_CONFLICT",
    });
    const exception = consumer.events.find((event) => event.name === "exception");
    expect(exception?.attributes?.["exception.message"]).toMatch(/WRONGTYPE/);

    expect(clients[0]?.name).toBe("INCR");
    expect(clients[0]?.status.code).toBe(SpanStatusCode.ERROR);
    expect(clients[0]?.attributes["db.response.status_code"]).toBe("WRONGTYPE");
  });

  it("traces a request rejected before any Redis command as an error with no CLIENT span", async () => {
    await start();
    const { traceId, traceparent } = newTrace();
    const reply = await request(nc, "bindings.cache", "not json", { headers: { traceparent } });
    expect(reply.status).toBe(400);
    const { consumer } = await traceOf(traceId, 0);
    expect(consumer.status.code).toBe(SpanStatusCode.ERROR);
    expect(consumer.attributes["error.type"]).toBe("ERR_MALFORMED_REQUEST");
    expect(consumer.attributes["binding.operation"]).toBeUndefined();
  });

  it("shows each attempt of a retried command as its own CLIENT span, and logs the failure with its trace id", async () => {
    const worker = await start({
      redisMaxRetries: "2",
      redisMinRetryInterval: "1ms",
      redisMaxRetryInterval: "2ms",
    });
    await redis.stop();
    const { traceId, traceparent } = newTrace();
    try {
      const reply = await request(
        nc,
        "bindings.cache",
        { operation: "get", metadata: { key: "while-down" } },
        { headers: { traceparent } },
      );
      expect(reply.status).toBe(503);
    } finally {
      await redis.start();
    }
    const { consumer, clients } = await traceOf(traceId, 3);
    expect(clients.map((span) => span.attributes["binding.redis.attempt"]).sort()).toEqual([
      1, 2, 3,
    ]);
    for (const attempt of clients) {
      expect(attempt.name).toBe("GET");
      expect(attempt.parentSpanContext?.spanId).toBe(consumer.spanContext().spanId);
      expect(attempt.status.code).toBe(SpanStatusCode.ERROR);
    }
    expect(consumer.attributes["binding.reply.code"]).toBe(503);
    const failure = worker.logs.find((line) => line.trace_id === traceId);
    expect(failure).toMatchObject({
      level: "warn",
      msg: "request failed",
      binding: "cache",
      operation: "get",
      code: 503,
      errorCode: "ERR_BINDING_UNAVAILABLE",
      span_id: consumer.spanContext().spanId,
      cause: expect.any(String),
    });
  });

  it("parents every Redis span to its own request when many run at once (auto-pipelined)", async () => {
    await start();
    const traces = Array.from({ length: 40 }, newTrace);
    const replies = await Promise.all(
      traces.map(({ traceparent }, index) =>
        request(
          nc,
          "bindings.cache",
          { operation: "increment", metadata: { key: `concurrent-${index}` } },
          { headers: { traceparent } },
        ),
      ),
    );
    expect(replies.map((reply) => reply.status)).toEqual(traces.map(() => 200));
    for (const { traceId } of traces) {
      const { consumer, clients } = await traceOf(traceId, 1);
      expect(clients[0]?.parentSpanContext?.spanId).toBe(consumer.spanContext().spanId);
    }
  });

  it("writes the request's trace id and span id on the log lines of that request", async () => {
    const worker = await start();
    await redis.cli("SET", "a-string", "text");
    const ok = newTrace();
    const failing = newTrace();
    await request(
      nc,
      "bindings.cache",
      { operation: "get", metadata: { key: "logged" } },
      { headers: { traceparent: ok.traceparent } },
    );
    await request(
      nc,
      "bindings.cache",
      { operation: "increment", metadata: { key: "a-string" } },
      { headers: { traceparent: failing.traceparent } },
    );
    const { consumer } = await traceOf(ok.traceId, 1);
    const served = worker.logs.find(
      (line) => line.msg === "request served" && line.trace_id === ok.traceId,
    );
    expect(served).toMatchObject({
      level: "debug",
      binding: "cache",
      operation: "get",
      code: 200,
      span_id: consumer.spanContext().spanId,
    });
    const rejected = worker.logs.find((line) => line.trace_id === failing.traceId);
    expect(rejected).toMatchObject({
      binding: "cache",
      operation: "increment",
      code: 409,
      errorCode: "ERR_VALUE_CONFLICT",
      cause: expect.stringMatching(/not an integer/),
    });
    // Lines outside any request carry no trace id.
    const configured = worker.logs.find((line) => line.msg === "binding configured");
    expect(configured).toBeDefined();
    expect(configured?.trace_id).toBeUndefined();
  });
});
