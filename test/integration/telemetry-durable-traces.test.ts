import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/telemetry/logger.js";
import { startTelemetry } from "../../src/telemetry/sdk.js";
import type { Telemetry } from "../../src/telemetry/telemetry.js";
import { durableRequest } from "../../src/transport/durable/request.js";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { type BindingReply, readReply } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

const SUBJECT = "bindings.durable.cache";
const REDELIVER_MS = 500;

/**
 * Spans of durable (JetStream) deliveries, through the real SDK bootstrap
 * with an in-memory exporter, against nats-server with JetStream and Redis.
 * The direct subject's spans are in telemetry-traces.test.ts.
 */
describe("durable delivery traces", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  let sdk: Telemetry;
  let worker: TestWorker;
  const exporter = new InMemorySpanExporter();

  beforeAll(async () => {
    const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
    sdk = await startTelemetry({
      log: createLogger("warn", quiet),
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
    });
    [nats, redis] = await Promise.all([natsServer({ jetstream: true }), redisServer()]);
    nc = await connect({ servers: nats.url });
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [
        redisComponent("cache", {
          redisHost: `${redis.host}:${redis.port}`,
          redeliverInterval: `${REDELIVER_MS}ms`,
          // Long: only a failure, never a slow machine, delivers a request again.
          processingTimeout: "20s",
          // Room for every delivery that fails while Redis is away.
          maxDeliveries: "50",
        }),
        // No redelivery: a failure that may pass is dead-lettered at once.
        redisComponent("once", {
          redisHost: `${redis.host}:${redis.port}`,
          redeliverInterval: "0",
          processingTimeout: "20s",
        }),
      ],
    });
    const giveUpAt = Date.now() + 30_000;
    while (worker.logs.filter((line) => line.msg === "durable intake pulling").length < 2) {
      if (Date.now() > giveUpAt) throw new Error("the durable intake never started pulling");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });

  afterAll(async () => {
    await worker?.stop();
    await nc?.close();
    await Promise.all([nats?.close(), redis?.close()]);
    await sdk?.shutdown();
  });

  const newTrace = () => {
    const traceId = randomBytes(16).toString("hex");
    const parentId = randomBytes(8).toString("hex");
    return { traceId, parentId, traceparent: `00-${traceId}-${parentId}-01` };
  };

  const send = async (
    body: unknown,
    options: { msgId?: string; headers?: Record<string, string>; subject?: string } = {},
  ): Promise<BindingReply> => {
    const { subject = SUBJECT, ...rest } = options;
    const payload = typeof body === "string" ? body : JSON.stringify(body);
    return readReply(await durableRequest(nc, subject, payload, { timeoutMs: 60_000, ...rest }));
  };

  const spansOf = (traceId: string): ReadableSpan[] =>
    exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
  const consumersOf = (traceId: string): ReadableSpan[] =>
    spansOf(traceId)
      .filter((span) => span.kind === SpanKind.CONSUMER)
      .sort(
        (a, b) =>
          Number(a.attributes["messaging.nats.message.delivery_count"]) -
          Number(b.attributes["messaging.nats.message.delivery_count"]),
      );
  const childrenOf = (parent: ReadableSpan): ReadableSpan[] =>
    spansOf(parent.spanContext().traceId).filter(
      (span) => span.parentSpanContext?.spanId === parent.spanContext().spanId,
    );

  /** The one delivery's CONSUMER span and its CLIENT spans, once that many have ended. */
  const deliveryOf = async (traceId: string, clientSpans: number) => {
    await expect
      .poll(
        () =>
          consumersOf(traceId).length === 1 &&
          spansOf(traceId).filter((span) => span.kind === SpanKind.CLIENT).length === clientSpans,
        { timeout: 20_000 },
      )
      .toBe(true);
    const consumer = consumersOf(traceId)[0] as ReadableSpan;
    return { consumer, clients: childrenOf(consumer) };
  };

  it("continues the caller's trace: a CONSUMER span per delivery under its traceparent, the Redis script under that", async () => {
    const { traceId, parentId, traceparent } = newTrace();
    const msgId = `traced-${traceId.slice(0, 8)}`;
    const body = JSON.stringify({
      operation: "create",
      metadata: { key: "durable-traced", ttlInSeconds: "60" },
      data: { secret: "s3cr3t-durable-value" },
    });
    const reply = await send(body, {
      msgId,
      headers: { traceparent, tracestate: "vendor=opaque" },
    });
    expect(reply.status).toBe(200);

    const { consumer, clients } = await deliveryOf(traceId, 1);
    expect(consumer.name).toBe(`process ${SUBJECT}`);
    expect(consumer.kind).toBe(SpanKind.CONSUMER);
    expect(consumer.parentSpanContext?.spanId).toBe(parentId);
    expect(consumer.parentSpanContext?.isRemote).toBe(true);
    expect(consumer.spanContext().traceState?.get("vendor")).toBe("opaque");
    expect(consumer.attributes).toMatchObject({
      "messaging.system": "nats",
      "messaging.destination.name": SUBJECT,
      "messaging.consumer.group.name": "cache",
      "messaging.operation.name": "process",
      "messaging.operation.type": "process",
      "messaging.message.body.size": Buffer.byteLength(body),
      "messaging.message.id": msgId,
      "messaging.nats.message.delivery_count": 1,
      "messaging.nats.message.stream_sequence": expect.any(Number),
      "binding.name": "cache",
      "binding.operation": "create",
      "binding.reply.code": 200,
      "binding.durable.action": "ack",
    });
    expect(consumer.attributes["binding.durable.retry_delay_ms"]).toBeUndefined();
    expect(consumer.status.code).toBe(SpanStatusCode.UNSET);

    expect(clients).toHaveLength(1);
    const [script] = clients;
    expect(script?.kind).toBe(SpanKind.CLIENT);
    expect(script?.name).toBe("EVALSHA");
    expect(script?.status.code).toBe(SpanStatusCode.UNSET);
    expect(script?.attributes).toMatchObject({
      "db.system.name": "redis",
      "db.operation.name": "EVALSHA",
      "db.namespace": "0",
      "server.address": redis.host,
      "server.port": redis.port,
      // The data key and its applied-record key; every value a `?`.
      "db.query.text": `EVALSHA ? 2 durable-traced rbw:applied:{durable-traced}:cache:${msgId} ? ? ?`,
      // One span per attempt, numbered as on the direct path.
      "binding.redis.attempt": 1,
    });
    for (const span of spansOf(traceId)) {
      expect(JSON.stringify(span.attributes)).not.toContain("s3cr3t-durable-value");
    }
  });

  it("starts a new trace for a durable request without traceparent", async () => {
    const msgId = `untraced-${randomBytes(4).toString("hex")}`;
    const reply = await send(
      { operation: "get", metadata: { key: "durable-untraced" } },
      { msgId },
    );
    expect(reply.status).toBe(200);
    let consumer: ReadableSpan | undefined;
    await expect
      .poll(
        () => {
          consumer = exporter
            .getFinishedSpans()
            .find(
              (span) =>
                span.kind === SpanKind.CONSUMER &&
                span.attributes["messaging.message.id"] === msgId,
            );
          return consumer !== undefined;
        },
        { timeout: 20_000 },
      )
      .toBe(true);
    expect(consumer?.parentSpanContext).toBeUndefined();
    const { clients } = await deliveryOf(consumer?.spanContext().traceId ?? "", 1);
    // A plain get is no script: it is not recorded.
    expect(clients[0]?.name).toBe("GET");
    expect(clients[0]?.attributes["db.query.text"]).toBe("GET durable-untraced");
  });

  it("marks a rejected (400) delivery's span as an error with its code, terminated, and logs it with the trace id", async () => {
    const { traceId, traceparent } = newTrace();
    const reply = await send({ operation: "get", metadata: {} }, { headers: { traceparent } });
    expect(reply.status).toBe(400);

    const { consumer, clients } = await deliveryOf(traceId, 0);
    expect(clients).toHaveLength(0);
    expect(consumer.status.code).toBe(SpanStatusCode.ERROR);
    expect(consumer.status.message).toMatch(/key/);
    expect(consumer.attributes).toMatchObject({
      "binding.reply.code": 400,
      "error.type": "ERR_INVALID_REQUEST",
      "binding.durable.action": "term",
      "messaging.nats.message.delivery_count": 1,
    });
    expect(consumer.events.some((event) => event.name === "exception")).toBe(true);

    const logged = worker.logs.find((line) => line.trace_id === traceId);
    expect(logged).toMatchObject({
      msg: "durable request rejected",
      binding: "cache",
      code: 400,
      errorCode: "ERR_INVALID_REQUEST",
      span_id: consumer.spanContext().spanId,
    });
  });

  it("marks a conflicting (409) delivery and its failed Redis script as errors", async () => {
    await redis.cli("RPUSH", "durable-list", "item");
    const { traceId, traceparent } = newTrace();
    const reply = await send(
      { operation: "increment", metadata: { key: "durable-list" } },
      { headers: { traceparent } },
    );
    expect(reply.status).toBe(409);

    const { consumer, clients } = await deliveryOf(traceId, 1);
    expect(consumer.status.code).toBe(SpanStatusCode.ERROR);
    expect(consumer.attributes).toMatchObject({
      "binding.operation": "increment",
      "binding.reply.code": 409,
      "error.type": "ERR_VALUE_CONFLICT",
      "binding.durable.action": "term",
    });
    expect(clients[0]?.name).toBe("EVALSHA");
    expect(clients[0]?.status.code).toBe(SpanStatusCode.ERROR);
  });

  it("marks a delivery that failed with no deliveries left as answered and dead-lettered", async () => {
    const { traceId, parentId, traceparent } = newTrace();
    await redis.stop();
    let reply: BindingReply;
    try {
      reply = await send(
        { operation: "delete", metadata: { key: "durable-dead" } },
        { subject: "bindings.durable.once", headers: { traceparent } },
      );
    } finally {
      await redis.start();
    }
    expect([503, 504]).toContain(reply.status);

    const { consumer } = await deliveryOf(traceId, 1);
    expect(consumer.name).toBe("process bindings.durable.once");
    expect(consumer.parentSpanContext?.spanId).toBe(parentId);
    expect(consumer.status.code).toBe(SpanStatusCode.ERROR);
    expect(consumer.attributes).toMatchObject({
      "messaging.consumer.group.name": "once",
      "binding.name": "once",
      "binding.operation": "delete",
      "binding.durable.action": "dead-letter",
      "binding.reply.code": reply.status,
      "messaging.nats.message.delivery_count": 1,
    });
    expect(["ERR_BINDING_UNAVAILABLE", "ERR_BINDING_TIMEOUT"]).toContain(
      consumer.attributes["error.type"],
    );
  });

  it("traces every delivery of a redelivered request in the caller's trace: handed back while Redis is away, answered 200 at last", async () => {
    const { traceId, parentId, traceparent } = newTrace();
    const msgId = `redelivered-${traceId.slice(0, 8)}`;
    await redis.stop();
    let replied: Promise<BindingReply>;
    try {
      replied = send(
        { operation: "increment", metadata: { key: "durable-redelivered" } },
        { msgId, headers: { traceparent } },
      );
      // Keep a rejection for the await below, not an unhandled one meanwhile.
      replied.catch(() => {});
      // At least one delivery failed and was handed back for redelivery.
      await expect
        .poll(
          () =>
            consumersOf(traceId).some(
              (span) => span.attributes["binding.durable.action"] === "retry",
            ),
          { timeout: 30_000 },
        )
        .toBe(true);
    } finally {
      await redis.start();
    }
    expect((await replied).status).toBe(200);
    await expect
      .poll(
        () =>
          consumersOf(traceId).some((span) => span.attributes["binding.durable.action"] === "ack"),
        { timeout: 20_000 },
      )
      .toBe(true);

    const deliveries = consumersOf(traceId);
    expect(deliveries.length).toBeGreaterThanOrEqual(2);
    // One span per delivery, numbered 1, 2, ...: none missing, none twice.
    expect(
      deliveries.map((span) => span.attributes["messaging.nats.message.delivery_count"]),
    ).toEqual(deliveries.map((_span, index) => index + 1));
    for (const delivery of deliveries) {
      expect(delivery.name).toBe(`process ${SUBJECT}`);
      expect(delivery.parentSpanContext?.spanId).toBe(parentId);
      expect(delivery.attributes).toMatchObject({
        "messaging.message.id": msgId,
        "messaging.consumer.group.name": "cache",
        "binding.operation": "increment",
      });
    }

    const first = deliveries[0] as ReadableSpan;
    const last = deliveries[deliveries.length - 1] as ReadableSpan;
    // Every delivery before the last was handed back, unanswered, with an error.
    for (const handedBack of deliveries.slice(0, -1)) {
      expect(handedBack.attributes).toMatchObject({
        "binding.durable.action": "retry",
        "binding.durable.retry_delay_ms": REDELIVER_MS,
      });
      expect(handedBack.attributes["binding.reply.code"]).toBeUndefined();
      expect(["ERR_BINDING_UNAVAILABLE", "ERR_BINDING_TIMEOUT"]).toContain(
        handedBack.attributes["error.type"],
      );
      expect(handedBack.status.code).toBe(SpanStatusCode.ERROR);
    }
    expect(last.attributes).toMatchObject({
      "binding.durable.action": "ack",
      "binding.reply.code": 200,
    });
    expect(last.attributes["error.type"]).toBeUndefined();
    expect(last.status.code).toBe(SpanStatusCode.UNSET);
    await expect
      .poll(() => childrenOf(last).filter((span) => span.kind === SpanKind.CLIENT).length, {
        timeout: 20_000,
      })
      .toBe(1);
    const [script] = childrenOf(last);
    expect(script?.name).toBe("EVALSHA");
    expect(script?.status.code).toBe(SpanStatusCode.UNSET);

    // The hand-back is logged in the first delivery's span.
    const handedBackLine = worker.logs.find(
      (line) =>
        line.trace_id === traceId && line.msg === "durable request failed; delivering again later",
    );
    expect(handedBackLine).toMatchObject({
      binding: "cache",
      deliveryCount: 1,
      span_id: first.spanContext().spanId,
    });
  }, 120_000);
});
