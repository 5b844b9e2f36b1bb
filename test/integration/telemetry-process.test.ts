import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { request } from "../support/requests.js";
import { redisComponent } from "../support/worker.js";
import { spawnWorker, type WorkerProcess } from "../support/worker-process.js";

// OTLP/JSON shapes, as much of them as the assertions read.
interface KeyValue {
  key: string;
  value: { stringValue?: string; intValue?: string | number; doubleValue?: number };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: KeyValue[];
}
interface ResourceSpans {
  resource?: { attributes?: KeyValue[] };
  scopeSpans?: { spans?: OtlpSpan[] }[];
}
interface NumberPoint {
  attributes?: KeyValue[];
  asInt?: string | number;
  asDouble?: number;
}
interface OtlpMetric {
  name: string;
  sum?: { dataPoints?: NumberPoint[] };
}
interface ResourceMetrics {
  scopeMetrics?: { metrics?: OtlpMetric[] }[];
}

/** OTLP span kinds (proto enum). */
const KIND_CLIENT = 3;
const KIND_CONSUMER = 5;

/**
 * A minimal OTLP/HTTP receiver (the JSON encoding): keeps what workers export
 * to /v1/traces and /v1/metrics, answers as a collector does.
 */
class OtlpReceiver {
  readonly traces: ResourceSpans[] = [];
  readonly metrics: ResourceMetrics[] = [];
  private readonly server: Server;

  constructor() {
    this.server = createServer((incoming, response) => {
      const chunks: Buffer[] = [];
      incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
      incoming.on("end", () => {
        let body = Buffer.concat(chunks);
        if (incoming.headers["content-encoding"] === "gzip") body = gunzipSync(body);
        const parsed = JSON.parse(body.toString("utf8"));
        if (incoming.url === "/v1/traces") this.traces.push(...(parsed.resourceSpans ?? []));
        if (incoming.url === "/v1/metrics") this.metrics.push(...(parsed.resourceMetrics ?? []));
        response.writeHead(200, { "content-type": "application/json" });
        response.end("{}");
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  spans(traceId: string): { span: OtlpSpan; resource: KeyValue[] }[] {
    return this.traces.flatMap((resourceSpans) =>
      (resourceSpans.scopeSpans ?? []).flatMap((scope) =>
        (scope.spans ?? [])
          .filter((span) => span.traceId === traceId)
          .map((span) => ({ span, resource: resourceSpans.resource?.attributes ?? [] })),
      ),
    );
  }

  points(name: string): NumberPoint[] {
    return this.metrics.flatMap((resourceMetrics) =>
      (resourceMetrics.scopeMetrics ?? []).flatMap((scope) =>
        (scope.metrics ?? [])
          .filter((metric) => metric.name === name)
          .flatMap((metric) => metric.sum?.dataPoints ?? []),
      ),
    );
  }
}

const attribute = (attributes: KeyValue[] | undefined, key: string) => {
  const value = attributes?.find((entry) => entry.key === key)?.value;
  if (value === undefined) return undefined;
  return (
    value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : value.doubleValue)
  );
};

/** The worker as users run it, exporting to an OTLP endpoint, and what its output may contain. */
describe("telemetry of a worker process", () => {
  const password = `pw-${randomBytes(12).toString("hex")}`;
  const storedValue = `value-${randomBytes(12).toString("hex")}`;
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  let dir: string;
  const running: WorkerProcess[] = [];

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer(), redisServer({ password })]);
    nc = await connect({ servers: nats.url });
    dir = await mkdtemp(join(tmpdir(), "rbw-telemetry-"));
  });

  afterAll(async () => {
    for (const worker of running) worker.kill("SIGKILL");
    await nc?.close();
    await Promise.all([nats?.close(), redis?.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  /** A components directory with one binding; `metadata` overrides the defaults. */
  const components = async (name: string, metadata: Record<string, string> = {}) => {
    const path = join(dir, name);
    await mkdir(path);
    await writeFile(
      join(path, "cache.yaml"),
      redisComponent("cache", {
        redisHost: `${redis.host}:${redis.port}`,
        redisPassword: password,
        ...metadata,
      }),
    );
    return path;
  };

  const spawn = (env: Record<string, string>) => {
    const worker = spawnWorker({ NATS_URL: nats.url, ...env });
    running.push(worker);
    return worker;
  };

  it("exports the request's spans and the metrics to the OTLP endpoint it is given, flushing them at stop", async () => {
    const receiver = new OtlpReceiver();
    const endpoint = await receiver.listen();
    try {
      const worker = spawn({
        COMPONENTS_PATH: await components("otlp"),
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_SERVICE_NAME: "orders-cache",
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=test",
        // Nothing would leave before a minute: what arrives was flushed by the stop.
        OTEL_BSP_SCHEDULE_DELAY: "60000",
      });
      await worker.waitForLog((line) => line.msg === "binding serving");
      const traceId = randomBytes(16).toString("hex");
      const parentId = randomBytes(8).toString("hex");
      const reply = await request(
        nc,
        "bindings.cache",
        { operation: "create", metadata: { key: "exported" }, data: storedValue },
        { headers: { traceparent: `00-${traceId}-${parentId}-01` } },
      );
      expect(reply.status).toBe(200);
      worker.kill("SIGTERM");
      expect(await worker.exited()).toBe(0);

      const spans = receiver.spans(traceId);
      expect(spans).toHaveLength(2);
      const consumer = spans.find(({ span }) => span.kind === KIND_CONSUMER);
      const client = spans.find(({ span }) => span.kind === KIND_CLIENT);
      expect(consumer?.span.name).toBe("process bindings.cache");
      expect(consumer?.span.parentSpanId).toBe(parentId);
      expect(attribute(consumer?.span.attributes, "messaging.system")).toBe("nats");
      expect(attribute(consumer?.span.attributes, "binding.reply.code")).toBe(200);
      expect(attribute(consumer?.resource, "service.name")).toBe("orders-cache");
      expect(attribute(consumer?.resource, "deployment.environment.name")).toBe("test");
      expect(attribute(consumer?.resource, "service.instance.id")).toEqual(expect.any(String));
      expect(client?.span.name).toBe("SET");
      expect(client?.span.parentSpanId).toBe(consumer?.span.spanId);
      expect(JSON.stringify(receiver.traces)).not.toContain(storedValue);
      const invocations = receiver
        .points("binding.invocations")
        .filter(
          (point) =>
            attribute(point.attributes, "binding") === "cache" &&
            attribute(point.attributes, "operation") === "create" &&
            attribute(point.attributes, "code") === 200,
        )
        .map((point) => Number(point.asInt ?? point.asDouble));
      expect(invocations.at(-1)).toBe(1);
    } finally {
      await receiver.close();
    }
  });

  it("never writes the Redis password or a stored value, in a full run at debug level with spans on stdout", async () => {
    await redis.cli("RPUSH", "a-list", "x");
    const worker = spawn({
      COMPONENTS_PATH: await components("full-run"),
      LOG_LEVEL: "debug",
      OTEL_TRACES_EXPORTER: "console",
      OTEL_LOG_LEVEL: "debug",
    });
    await worker.waitForLog((line) => line.msg === "binding serving");
    const call = (body: unknown) => request(nc, "bindings.cache", body);
    const statuses = [
      (await call({ operation: "create", metadata: { key: "k", ttl: "60" }, data: storedValue }))
        .status,
      (await call({ operation: "get", metadata: { key: "k" } })).status,
      (await call({ operation: "get", metadata: { key: "k", delete: "true" } })).status,
      (await call({ operation: "increment", metadata: { key: "n" } })).status,
      (await call({ operation: "increment", metadata: { key: "a-list" } })).status,
      (await call({ operation: "create", metadata: { key: "x", ttl: "soon" }, data: storedValue }))
        .status,
      (await call(`{"operation":"create","data":"${storedValue}"`)).status,
    ];
    expect(statuses).toEqual([200, 200, 200, 200, 409, 400, 400]);
    worker.kill("SIGTERM");
    expect(await worker.exited()).toBe(0);

    const output = worker.output();
    // Not vacuous: the run logged requests with trace ids and printed spans.
    expect(worker.logs.filter((line) => line.msg === "request served")).toHaveLength(4);
    expect(worker.logs.every((line) => line.msg !== "request served" || line.trace_id)).toBe(true);
    expect(output).toContain("process bindings.cache");
    expect(output).not.toContain(password);
    expect(output).not.toContain(storedValue);
  });

  it("never writes a wrong Redis password it was given, while authentication keeps failing", async () => {
    const wrong = `wrong-${randomBytes(12).toString("hex")}`;
    const worker = spawn({
      COMPONENTS_PATH: await components("wrong-password", { redisPassword: wrong }),
      LOG_LEVEL: "debug",
    });
    await worker.waitForLog((line) => line.level === "warn" || line.level === "error");
    // Let it try a few times: every failed AUTH is a chance to print it.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    worker.kill("SIGTERM");
    expect(await worker.exited()).toBe(0);
    expect(worker.output()).toMatch(/WRONGPASS|auth/i);
    expect(worker.output()).not.toContain(wrong);
  });

  it("never writes the password in the error of a component that fails to load", async () => {
    const worker = spawn({
      COMPONENTS_PATH: await components("bad-component", { redisDB: "sixteen" }),
    });
    expect(await worker.exited()).toBe(1);
    expect(worker.logs.some((line) => line.level === "fatal")).toBe(true);
    expect(worker.output()).toContain("redisDB");
    expect(worker.output()).not.toContain(password);
  });
});
