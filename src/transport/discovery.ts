/**
 * ADR-32 ("NATS micro") discovery, answered by hand.
 *
 * We do not use `@nats-io/services`: it only exists as a prerelease, and its
 * stats time the handler callback, which for us returns as soon as the Redis
 * work has *started*. Here the request path owns an {@link EndpointStatsRecorder}
 * and records when the reply has actually been sent, so `$SRV.STATS` reports
 * real processing times. This module only answers the three discovery verbs;
 * it never subscribes to the request subjects themselves.
 *
 * Wire format: ADR-32 (nats-architecture-and-design) and the JSON schemas
 * `io.nats.micro.v1.{ping,info,stats}_response` (nats-io/jsm.go schemas/micro).
 */
import { type Msg, type NatsConnection, nuid, type Subscription } from "@nats-io/transport-node";

/** The ADR-32 subject prefix. Overridable so tooling can cross an account boundary. */
export const SERVICE_API_PREFIX = "$SRV";

export const PING_RESPONSE_TYPE = "io.nats.micro.v1.ping_response";
export const INFO_RESPONSE_TYPE = "io.nats.micro.v1.info_response";
export const STATS_RESPONSE_TYPE = "io.nats.micro.v1.stats_response";

export type DiscoveryVerb = "PING" | "INFO" | "STATS";
const VERBS: readonly DiscoveryVerb[] = ["PING", "INFO", "STATS"];

// ---------------------------------------------------------------------------
// What the caller describes

export interface EndpointDescription {
  /** ADR-32 endpoint name: `[A-Za-z0-9_-]+` (the binding name). */
  readonly name: string;
  /** The subject the endpoint really listens on, e.g. `bindings.cache`. */
  readonly subject: string;
  /** The queue group the endpoint really uses ("" for none). */
  readonly queueGroup: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface ServiceDescription {
  /** ADR-32 service name (its "kind"): `[A-Za-z0-9_-]+`, e.g. `redis-binding`. */
  readonly name: string;
  /** Must be SemVer 2.0: ADR-32 clients validate it. */
  readonly version: string;
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly endpoints: readonly EndpointDescription[];
}

// ---------------------------------------------------------------------------
// What goes on the wire (field names exactly as ADR-32 spells them)

export interface ServiceIdentity {
  type: string;
  name: string;
  id: string;
  version: string;
  metadata: Record<string, string>;
}

export interface PingResponse extends ServiceIdentity {
  type: typeof PING_RESPONSE_TYPE;
}

export interface EndpointInfo {
  name: string;
  subject: string;
  queue_group: string;
  metadata: Record<string, string>;
}

export interface InfoResponse extends ServiceIdentity {
  type: typeof INFO_RESPONSE_TYPE;
  description: string;
  endpoints: EndpointInfo[];
}

/** The counters of one endpoint; durations in nanoseconds. */
export interface EndpointCounters {
  num_requests: number;
  num_errors: number;
  /** "" while there has been no error (the schema requires a string). */
  last_error: string;
  processing_time: number;
  /** processing_time / num_requests, truncated; 0 without requests. */
  average_processing_time: number;
}

export interface EndpointStats extends EndpointCounters {
  name: string;
  subject: string;
  queue_group: string;
  data?: unknown;
}

export interface StatsResponse extends ServiceIdentity {
  type: typeof STATS_RESPONSE_TYPE;
  /** ISO-8601 UTC time the service started (or its stats were last reset). */
  started: string;
  endpoints: EndpointStats[];
}

// ---------------------------------------------------------------------------
// Recording

/**
 * Counters of one endpoint. `record*` runs once per request on the hot path,
 * so it only does arithmetic; averages and rounding happen when STATS asks.
 *
 * processing_time is kept as a double of nanoseconds: exact up to 2^53 ns
 * (~104 days of summed handler time) and after that off by a few ns per
 * request, which no one reading an average can see; a bigint sum would cost an
 * allocation per request for nothing.
 */
export class EndpointStatsRecorder {
  #requests = 0;
  #errors = 0;
  #lastError = "";
  #processingNs = 0;

  /** A start mark for {@link record}: `process.hrtime.bigint()`. */
  static now(): bigint {
    return process.hrtime.bigint();
  }

  /**
   * Count one finished request that started at `startedAt`
   * ({@link EndpointStatsRecorder.now}). Pass `error` when it failed; the
   * string becomes `last_error` (by convention `"<code>:<message>"`).
   */
  record(startedAt: bigint, error?: string): void {
    this.recordDuration(Number(process.hrtime.bigint() - startedAt), error);
  }

  /** Count one finished request that took `durationNs` nanoseconds. */
  recordDuration(durationNs: number, error?: string): void {
    this.#requests++;
    this.#processingNs += durationNs;
    if (error !== undefined) {
      this.#errors++;
      this.#lastError = error;
    }
  }

  snapshot(): EndpointCounters {
    // Truncate: the schema wants integers and a caller may record fractions.
    const total = Math.max(0, Math.trunc(this.#processingNs));
    return {
      num_requests: this.#requests,
      num_errors: this.#errors,
      last_error: this.#lastError,
      processing_time: total,
      average_processing_time: this.#requests > 0 ? Math.trunc(total / this.#requests) : 0,
    };
  }

  reset(): void {
    this.#requests = 0;
    this.#errors = 0;
    this.#lastError = "";
    this.#processingNs = 0;
  }
}

const ZERO_COUNTERS: Readonly<EndpointCounters> = Object.freeze({
  num_requests: 0,
  num_errors: 0,
  last_error: "",
  processing_time: 0,
  average_processing_time: 0,
});

// ---------------------------------------------------------------------------
// Discovery

/** Finds the recorder of an endpoint by name; undefined reports zeros. */
export type StatsLookup = (endpointName: string) => EndpointStatsRecorder | undefined;

export interface DiscoveryOptions {
  /**
   * Extra per-endpoint data for STATS (`endpoints[].data`; the schema wants an
   * object). Undefined leaves `data` out. A throw or rejection leaves it out
   * too and is reported to `onError`.
   */
  statsData?: (endpoint: EndpointInfo) => unknown;
  /** Subject prefix instead of `$SRV`. */
  apiPrefix?: string;
  /** Errors nobody awaits: a discovery subscription refused, a reply that failed. */
  onError?: (err: Error) => void;
}

export interface Discovery {
  /** This instance's ADR-32 id (a NUID). */
  readonly id: string;
  /** The discovery subjects this instance subscribed to. */
  readonly subjects: readonly string[];
  readonly stopped: boolean;
  ping(): PingResponse;
  info(): InfoResponse;
  stats(): Promise<StatsResponse>;
  /** Zero every endpoint's counters and restart the `started` clock. */
  resetStats(): void;
  /** Drain the discovery subscriptions. Idempotent; safe after the connection closed. */
  stop(): Promise<void>;
}

// ADR-32 names: letters, digits, dash, underscore.
const NAME_RE = /^[A-Za-z0-9_-]+$/;
// The SemVer 2.0 regular expression suggested at semver.org, which ADR-32 names.
const SEMVER_RE =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

function checkDescription(service: ServiceDescription): void {
  if (!NAME_RE.test(service.name)) {
    throw new TypeError(
      `invalid service name "${service.name}": only letters, digits, "-" and "_" are allowed`,
    );
  }
  if (!SEMVER_RE.test(service.version)) {
    throw new TypeError(`invalid service version "${service.version}": must be SemVer`);
  }
  for (const e of service.endpoints) {
    if (!NAME_RE.test(e.name)) {
      throw new TypeError(
        `invalid endpoint name "${e.name}": only letters, digits, "-" and "_" are allowed`,
      );
    }
    if (e.subject === "" || /\s/.test(e.subject)) {
      throw new TypeError(`invalid subject "${e.subject}" for endpoint "${e.name}"`);
    }
  }
}

/** `<prefix>.<verb>[.<name>[.<id>]]`: the three forms every instance answers. */
export function discoverySubject(
  verb: DiscoveryVerb,
  name?: string,
  id?: string,
  prefix = SERVICE_API_PREFIX,
): string {
  if (name === undefined) return `${prefix}.${verb}`;
  if (id === undefined) return `${prefix}.${verb}.${name}`;
  return `${prefix}.${verb}.${name}.${id}`;
}

// Frozen copies: ADR-32 wants metadata immutable once the service runs, and a
// caller mutating its own object later must not change what we report.
function frozenRecord(r: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return Object.freeze({ ...(r ?? {}) }) as Record<string, string>;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Subscribe to the nine discovery subjects and answer them. Synchronous: the
 * SUBs are queued on the connection, so anything later sent on the same
 * connection reaches the server after them; other connections should wait for
 * `nc.flush()` before relying on the answers.
 */
export function startDiscovery(
  nc: NatsConnection,
  service: ServiceDescription,
  stats: StatsLookup,
  opts: DiscoveryOptions = {},
): Discovery {
  checkDescription(service);
  const prefix = opts.apiPrefix ?? SERVICE_API_PREFIX;
  const onError = opts.onError ?? (() => {});
  const statsData = opts.statsData;

  const id = nuid.next();
  const metadata = frozenRecord(service.metadata);
  const identity = { name: service.name, id, version: service.version, metadata };
  const endpoints: readonly EndpointInfo[] = Object.freeze(
    service.endpoints.map((e) =>
      Object.freeze({
        name: e.name,
        subject: e.subject,
        queue_group: e.queueGroup,
        metadata: frozenRecord(e.metadata),
      }),
    ),
  );
  let started = new Date().toISOString();
  let stopped = false;

  const ping = (): PingResponse => ({ type: PING_RESPONSE_TYPE, ...identity });
  const info = (): InfoResponse => ({
    type: INFO_RESPONSE_TYPE,
    ...identity,
    description: service.description ?? "",
    endpoints: endpoints.map((e) => ({ ...e })),
  });

  const endpointStats = async (e: EndpointInfo): Promise<EndpointStats> => {
    const counters = stats(e.name)?.snapshot() ?? ZERO_COUNTERS;
    const out: EndpointStats = {
      name: e.name,
      subject: e.subject,
      queue_group: e.queue_group,
      ...counters,
    };
    if (statsData) {
      try {
        const data = await statsData(e);
        if (data !== undefined) out.data = data;
      } catch (err) {
        onError(asError(err));
      }
    }
    return out;
  };

  const buildStats = async (): Promise<StatsResponse> => ({
    type: STATS_RESPONSE_TYPE,
    ...identity,
    started,
    endpoints: await Promise.all(endpoints.map(endpointStats)),
  });

  // PING and INFO never change for the life of the instance: encode them once.
  const encoder = new TextEncoder();
  const pingBytes = encoder.encode(JSON.stringify(ping()));
  const infoBytes = encoder.encode(JSON.stringify(info()));

  const respond = (msg: Msg, payload: Uint8Array): void => {
    if (!msg.reply) return; // a plain publish asks nothing
    try {
      msg.respond(payload);
    } catch (err) {
      // A closing connection refuses publishes; that is shutdown, not a fault.
      if (!nc.isClosed() && !nc.isDraining()) onError(asError(err));
    }
  };

  const handlers: Record<DiscoveryVerb, (msg: Msg) => void> = {
    PING: (msg) => respond(msg, pingBytes),
    INFO: (msg) => respond(msg, infoBytes),
    STATS: (msg) => {
      buildStats().then(
        (s) => respond(msg, encoder.encode(JSON.stringify(s))),
        (err: unknown) => onError(asError(err)),
      );
    },
  };

  // Nine exact subscriptions rather than `$SRV.>` or `$SRV.*.…` wildcards:
  // accounts often grant exactly these subjects, and a wildcard would also
  // pull in every other service's traffic. No queue group: ADR-32 wants every
  // instance to answer.
  const subs: Subscription[] = [];
  const subjects: string[] = [];
  try {
    for (const verb of VERBS) {
      const handle = handlers[verb];
      for (const subject of [
        discoverySubject(verb, undefined, undefined, prefix),
        discoverySubject(verb, service.name, undefined, prefix),
        discoverySubject(verb, service.name, id, prefix),
      ]) {
        subs.push(
          nc.subscribe(subject, {
            callback: (err, msg) => {
              // err: the server refused the subscription (permissions); it is closed now.
              if (err) onError(err);
              else handle(msg);
            },
          }),
        );
        subjects.push(subject);
      }
    }
  } catch (err) {
    // Don't leave half the subjects answering when one subscribe throws.
    for (const s of subs) s.unsubscribe();
    throw err;
  }

  let stopping: Promise<void> | undefined;
  return {
    id,
    subjects: Object.freeze(subjects),
    get stopped() {
      return stopped;
    },
    ping,
    info,
    stats: buildStats,
    resetStats() {
      for (const e of endpoints) stats(e.name)?.reset();
      started = new Date().toISOString();
    },
    stop() {
      if (stopping) return stopping;
      stopped = true;
      // Draining lets an in-flight STATS answer; on a closed connection the
      // subscriptions are already gone and drain() would reject.
      stopping = nc.isClosed()
        ? Promise.resolve()
        : Promise.allSettled(subs.map((s) => s.drain())).then(() => undefined);
      return stopping;
    },
  };
}
