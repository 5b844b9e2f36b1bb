import type { Logger } from "pino";
import type { Invocation } from "./binding/invocation.js";
import { execute } from "./binding/operations.js";
import type { RedisBindingSettings } from "./config/settings.js";
import type { BindingError } from "./errors.js";
import type { TokenCredentialFactory } from "./redis/azure-credential.js";
import { RedisConnections } from "./redis/client.js";
import { IdempotentExecutor } from "./redis/idempotent.js";
import { IoredisPort } from "./redis/port.js";
import type { RetryPolicy } from "./redis/retry.js";
import type { RedisInstrumentation } from "./telemetry/instrumentation.js";
import { EndpointStatsRecorder } from "./transport/discovery.js";
import type { OnceRunner } from "./transport/durable/intake.js";
import type { EndpointObserver, InvocationRunner } from "./transport/endpoint.js";

const REDIS_PROBE_INTERVAL_MS = 500;

export interface BindingRuntimeOptions {
  /** Credential for `useEntraID` bindings; DefaultAzureCredential unless given (tests inject one). */
  readonly tokenCredential?: TokenCredentialFactory;
}

/**
 * Everything one binding owns on the Redis side, plus its counters: built
 * from its settings once, closed once.
 */
export class BindingRuntime implements EndpointObserver {
  readonly stats = new EndpointStatsRecorder();
  readonly connections: RedisConnections;
  readonly run: InvocationRunner;
  private closed = false;

  constructor(
    readonly settings: RedisBindingSettings,
    log: Logger,
    options: BindingRuntimeOptions = {},
    /** Spans per Redis attempt and retry counts; none in tests that build a runtime alone. */
    private readonly instrumentation?: RedisInstrumentation,
  ) {
    // Connection events are logged by RedisConnections (rate-limited, TLS and
    // auth failures named as such).
    this.connections = RedisConnections.forBinding(settings, { log, ...options });
    const port = new IoredisPort(
      settings.name,
      this.connections,
      retryPolicy(settings),
      instrumentation,
    );
    const observed = instrumentation?.port(port) ?? port;
    this.run = (invocation, deadline) => execute(observed, invocation, deadline);
  }

  requestFinished(durationNs: number, error: BindingError | undefined): void {
    this.stats.recordDuration(durationNs, error ? `${error.status}:${error.message}` : undefined);
  }

  /**
   * The durable intake's runner: every invocation applied at most once per
   * request id, its outcome kept for `recordTtlMs` (redis/idempotent.ts).
   * It takes the delivery's deadline as an optional third argument, which
   * ends Redis retries there (as the direct path's runner does); an intake
   * that passes none keeps retrying as the policy allows.
   */
  onceRunner(recordTtlMs: number): OnceRunner {
    const executor = new IdempotentExecutor(
      this.settings.name,
      this.connections,
      retryPolicy(this.settings),
      recordTtlMs,
      this.instrumentation,
    );
    return (invocation: Invocation, requestId: string, deadline?: number) =>
      executor.execute(invocation, requestId, deadline);
  }

  get redisReady(): boolean {
    return this.connections.ready;
  }

  /** Connects, then resolves once Redis answers PING (retrying until closed). */
  async waitForRedis(): Promise<boolean> {
    this.connections.connect();
    while (!this.closed) {
      try {
        await this.connections.ping();
        return true;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, REDIS_PROBE_INTERVAL_MS));
      }
    }
    return false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.connections.close();
  }
}

function retryPolicy(settings: RedisBindingSettings): RetryPolicy {
  return {
    maxRetries: settings.redisMaxRetries,
    minBackoffMs: settings.redisMinRetryIntervalMs,
    maxBackoffMs: settings.redisMaxRetryIntervalMs,
  };
}
