/**
 * `redis-binding-worker/client`: a typed caller of Redis bindings served over
 * NATS. It loads nothing but @nats-io/transport-node (for `headers()` and
 * types): no Redis client, no logger, none of the worker. Only a durable
 * request loads more: @nats-io/jetstream and the durable intake's
 * `durableRequest` helper, on first use.
 */
export {
  BindingClient,
  type BindingClientOptions,
  type CallOptions,
  type CreateOptions,
  type GetOptions,
  type IncrementOptions,
  type InvokeOptions,
  type WriteOptions,
} from "./client.js";
export {
  BadReplyError,
  BindingError,
  type BindingErrorCode,
  BindingTimeoutError,
  BindingUnavailableError,
  InvalidRequestError,
  InvokeOutputBindingError,
  MalformedRequestError,
  NoRespondersError,
  PayloadTooLargeError,
  ReplyTimeoutError,
  UnsupportedOperationError,
  ValueConflictError,
} from "./errors.js";
export { RAW_CONTENT_TYPE } from "./wire.js";
