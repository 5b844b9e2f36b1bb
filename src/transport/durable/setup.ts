import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamInfo,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { DeliveryPlan } from "./plan.js";

/**
 * Creating the stream and the consumers. Every worker of a deployment runs
 * this at start-up, possibly at the same moment, so each step is "create, or
 * accept what is there when it is what we would have created": the server
 * answers an identical create with the existing stream or consumer, and a
 * racing loser finds the winner's object on its second look.
 */

/**
 * The stream's de-duplication window for `Nats-Msg-Id`. It only has to cover
 * a publisher's own retry of a publish whose acknowledgement was lost (a few
 * seconds): applying each id once is the workers' job (the applied-records in
 * Redis), not the stream's. Kept short because a duplicate dropped by the
 * stream is never answered on its new reply subject: a caller retrying with
 * the same id is answered (with the recorded outcome) once its publish is
 * stored again, and durableRequest re-publishes until it is.
 */
export const DUPLICATE_WINDOW_MS = 10_000;
const NS_PER_MS = 1_000_000;

export type JetStreamProbe =
  | { readonly available: true; readonly jsm: JetStreamManager }
  | { readonly available: false; readonly reason: string };

/** Whether the server (and this account) has JetStream. */
export async function probeJetStream(nc: NatsConnection): Promise<JetStreamProbe> {
  try {
    return { available: true, jsm: await jetstreamManager(nc) };
  } catch (error) {
    // The package does not export the class of this error; its name is stable.
    if (error instanceof Error && error.name === "JetStreamNotEnabled") {
      return { available: false, reason: "JetStream is not enabled on the NATS server" };
    }
    if (
      error instanceof JetStreamApiError &&
      error.code === JetStreamApiCodes.JetStreamNotEnabledForAccount
    ) {
      return { available: false, reason: "JetStream is not enabled for this account" };
    }
    return { available: false, reason: `JetStream did not answer: ${(error as Error).message}` };
  }
}

/** A start-up problem the operator must fix (e.g. a stream that is not ours). */
export class DurableSetupError extends Error {
  override readonly name = "DurableSetupError";
}

function isNotFound(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

/**
 * The work-queue stream capturing `subjects`. An existing stream of that name
 * is used as it is when it captures exactly these subjects with work-queue
 * retention, and refused otherwise: it belongs to someone else, and changing
 * it could break them.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  name: string,
  subject: string,
): Promise<StreamInfo> {
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(name);
  } catch (error) {
    if (!isNotFound(error, JetStreamApiCodes.StreamNotFound)) throw error;
    try {
      info = await jsm.streams.add({
        name,
        subjects: [subject],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        duplicate_window: DUPLICATE_WINDOW_MS * NS_PER_MS,
        description: "redis-binding-worker durable requests",
      });
    } catch (addError) {
      // Another worker created it in between (or it differs: checked below).
      info = await jsm.streams.info(name).catch(() => {
        throw addError;
      });
    }
  }
  const { subjects, retention } = info.config;
  if (retention !== RetentionPolicy.Workqueue || subjects.length !== 1 || subjects[0] !== subject) {
    throw new DurableSetupError(
      `stream ${name} exists with subjects ${JSON.stringify(subjects)} and ${retention} retention; ` +
        `the durable intake needs exactly ["${subject}"] with workqueue retention`,
    );
  }
  // Streams made by earlier versions kept the server's two-minute window.
  const window = DUPLICATE_WINDOW_MS * NS_PER_MS;
  if (info.config.duplicate_window !== window) {
    info = await jsm.streams.update(name, { duplicate_window: window });
  }
  return info;
}

export interface ConsumerSpec {
  readonly stream: string;
  readonly name: string;
  readonly filterSubject: string;
  readonly plan: DeliveryPlan;
}

/** The settings we own; anything else on the consumer (max_ack_pending...) is the operator's. */
function ownedConfig(spec: ConsumerSpec): Partial<ConsumerConfig> {
  return {
    ack_wait: spec.plan.ackWaitMs * NS_PER_MS,
    max_deliver: spec.plan.maxDeliver,
  };
}

function differs(info: ConsumerInfo, owned: Partial<ConsumerConfig>): boolean {
  return info.config.ack_wait !== owned.ack_wait || info.config.max_deliver !== owned.max_deliver;
}

/**
 * The binding's durable pull consumer, created or brought in line with the
 * component's settings (a changed `processingTimeout` or `maxDeliveries`
 * takes effect when the first worker with the new settings starts).
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  spec: ConsumerSpec,
): Promise<ConsumerInfo> {
  const owned = ownedConfig(spec);
  let info: ConsumerInfo | undefined;
  try {
    info = await jsm.consumers.info(spec.stream, spec.name);
  } catch (error) {
    if (!isNotFound(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
  }
  if (info === undefined) {
    try {
      return await jsm.consumers.add(spec.stream, {
        durable_name: spec.name,
        filter_subject: spec.filterSubject,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ...owned,
      });
    } catch (addError) {
      // Lost a race with another worker: look again and update below.
      info = await jsm.consumers.info(spec.stream, spec.name).catch(() => {
        throw addError;
      });
    }
  }
  if (info.config.filter_subject !== spec.filterSubject) {
    throw new DurableSetupError(
      `consumer ${spec.name} on stream ${spec.stream} filters ${JSON.stringify(info.config.filter_subject)}, not ${spec.filterSubject}`,
    );
  }
  if (!differs(info, owned)) return info;
  return jsm.consumers.update(spec.stream, spec.name, owned);
}
