/**
 * Attribute and metric names. The messaging ones are still "incubating" in
 * @opentelemetry/semantic-conventions, whose docs ask users to copy such names
 * rather than import the unstable entry point; the stable ones are imported
 * where used. `binding.*` names are this project's own.
 */

export const ATTR_MESSAGING_SYSTEM = "messaging.system";
export const ATTR_MESSAGING_DESTINATION_NAME = "messaging.destination.name";
export const ATTR_MESSAGING_CONSUMER_GROUP_NAME = "messaging.consumer.group.name";
export const ATTR_MESSAGING_OPERATION_NAME = "messaging.operation.name";
export const ATTR_MESSAGING_OPERATION_TYPE = "messaging.operation.type";
export const ATTR_MESSAGING_MESSAGE_BODY_SIZE = "messaging.message.body.size";
export const ATTR_MESSAGING_MESSAGE_ID = "messaging.message.id";
/**
 * Durable (JetStream) deliveries. The messaging conventions define no
 * delivery count or stream sequence for every system, and nothing for NATS:
 * these follow the form they give system-specific attributes
 * (`messaging.servicebus.message.delivery_count`, now
 * `azure.servicebus.message.delivery_count`), under the `messaging.system`
 * value `nats`.
 */
export const ATTR_MESSAGING_NATS_MESSAGE_DELIVERY_COUNT = "messaging.nats.message.delivery_count";
export const ATTR_MESSAGING_NATS_MESSAGE_STREAM_SEQUENCE = "messaging.nats.message.stream_sequence";

/** The binding (component) name. */
export const ATTR_BINDING_NAME = "binding.name";
/** The request's operation: create, get, delete, increment. */
export const ATTR_BINDING_OPERATION = "binding.operation";
/** The reply's code: 200 for success, else the Nats-Service-Error-Code. */
export const ATTR_BINDING_REPLY_CODE = "binding.reply.code";
/**
 * What the worker did with a durable delivery: `ack`, `term`, `retry`,
 * `dead-letter`, `release`, the values of the `action` metric label.
 */
export const ATTR_BINDING_DURABLE_ACTION = "binding.durable.action";
/** A `retry`'s delay before the request is delivered again (the nak delay), in ms. */
export const ATTR_BINDING_DURABLE_RETRY_DELAY_MS = "binding.durable.retry_delay_ms";
/** True when an earlier delivery had applied the request and its recorded outcome was answered. */
export const ATTR_BINDING_DURABLE_REPLAYED = "binding.durable.replayed";
/** Which attempt of a Redis command a CLIENT span is: 1, then 2, ... for retries. */
export const ATTR_BINDING_REDIS_ATTEMPT = "binding.redis.attempt";

/** Metric attributes: few values each, so series stay few. */
export const METRIC_ATTR_BINDING = "binding";
export const METRIC_ATTR_OPERATION = "operation";
export const METRIC_ATTR_CODE = "code";
/** What became of a durable delivery: ack, term, retry, dead-letter, release, abandoned. */
export const METRIC_ATTR_ACTION = "action";
