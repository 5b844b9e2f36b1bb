/**
 * The prose of docs/configuration.md: what each setting means, in words.
 * Field names, their order and every default come from the code (the zod
 * schema and the runtime loader) in config-docs.mjs; a field added there
 * without a line here fails `npm run docs:check`.
 */

/** Component metadata (`spec.metadata` of a `bindings.redis` component), by field. */
export const BINDING_FIELD_DOCS = {
  redisHost: {
    type: "host:port list",
    meaning:
      "Redis address; comma-separate several for a cluster (seed nodes) or Sentinel (the sentinels). An address without a port takes `redisPort`.",
  },
  redisPassword: { type: "secret", meaning: "Password (Redis `AUTH`). Prefer `secretKeyRef`." },
  redisUsername: { type: "string", meaning: "Redis 6+ ACL user name." },
  useEntraID: {
    type: "bool",
    meaning:
      "Azure Cache for Redis with Microsoft Entra ID tokens (alias `useAzureAD`); needs `enableTLS`, no username or password.",
  },
  enableTLS: { type: "bool", meaning: "Connect with TLS, verifying the server's certificate." },
  failover: {
    type: "bool",
    meaning: "Redis Sentinel: `redisHost` lists the sentinels; needs `sentinelMasterName`.",
  },
  sentinelMasterName: { type: "string", meaning: "The Sentinel master set to follow." },
  redeliverInterval: {
    type: "duration",
    meaning:
      'Durable requests: how long a request that failed for a reason that may pass waits before it is delivered again; `"0"` disables redelivery.',
  },
  processingTimeout: {
    type: "duration",
    meaning:
      'Durable requests: a delivered request not finished within this is delivered again (to any worker); `"0"` disables redelivery.',
  },
  redisType: {
    type: "`node` \\| `cluster`",
    meaning: "Single node (or Sentinel) or Redis Cluster.",
  },
  redisDB: {
    type: "integer",
    meaning: "Database `SELECT`ed after connecting; ignored by a cluster.",
  },
  redisMaxRetries: {
    type: "integer",
    meaning:
      "Extra attempts for failures that may pass (connection refused, `LOADING`, `READONLY`, ...); an `increment` is retried only when it surely never reached Redis. Retries stop at the request's deadline (`REQUEST_TIMEOUT`): none is started, or waited for, that would end after it; the caller gets 504 at the deadline, naming the failure being retried. `-1`: none.",
  },
  redisMinRetryInterval: {
    type: "duration",
    meaning: "Smallest backoff between retries (go-redis's exponential backoff); `-1`: no backoff.",
  },
  redisMaxRetryInterval: {
    type: "duration",
    meaning: "Largest backoff between retries; `-1`: no backoff.",
  },
  dialTimeout: { type: "duration", meaning: "Time allowed to connect to Redis." },
  readTimeout: {
    type: "duration",
    meaning:
      "A command without an answer in time fails with 504 `ERR_BINDING_TIMEOUT`; `-1`: no timeout.",
  },
  writeTimeout: {
    type: "duration",
    meaning:
      "No ioredis equivalent (writes are buffered; a stalled one shows as a missing reply after `readTimeout`): accepted, warned about at start-up if set. Defaults to `readTimeout`.",
  },
  poolSize: {
    type: "integer",
    meaning:
      "Node and Sentinel: that many connections, used in turn; each pipelines any number of concurrent requests. Cluster: one connection per node, `poolSize` ignored (warned).",
  },
  poolTimeout: {
    type: "duration",
    meaning:
      "No ioredis equivalent (no pool to wait on): accepted, warned about at start-up if set.",
  },
  maxConnAge: {
    type: "duration",
    meaning:
      "No ioredis equivalent (connections stay open): accepted, warned about at start-up if set.",
  },
  minIdleConns: {
    type: "integer",
    meaning: "No ioredis equivalent: accepted, warned about at start-up if set.",
  },
  idleCheckFrequency: {
    type: "duration",
    meaning: "No ioredis equivalent: accepted, warned about at start-up if set.",
  },
  idleTimeout: {
    type: "duration",
    meaning:
      "No ioredis equivalent (connections stay open with TCP keep-alive): accepted, warned about at start-up if set.",
  },
  redisPort: { type: "integer", meaning: "Port for addresses in `redisHost` written without one." },
  sentinelUsername: { type: "string", meaning: "ACL user for the sentinels." },
  sentinelPassword: { type: "secret", meaning: "Password for the sentinels." },
  insecureSkipTLSVerify: {
    type: "bool",
    meaning: "Skip verifying the server's certificate. For tests only.",
  },
  clientCert: {
    type: "PEM",
    meaning:
      "Client certificate for mutual TLS, the PEM text itself (not a file name); needs `clientKey`.",
  },
  clientKey: { type: "secret PEM", meaning: "The client certificate's private key, PEM text." },
  azureClientID: {
    type: "string",
    meaning: "Client id of a user-assigned managed identity, with `useEntraID`.",
  },
  caCert: {
    type: "PEM",
    meaning:
      "Not in Dapr: a CA certificate (PEM text) to verify the server with, for private CAs. Dapr ignores unknown metadata, so the component still loads there.",
  },
  maxDeliveries: {
    type: "integer",
    meaning:
      "Not in Dapr: how many times a durable request is delivered before it goes to the dead-letter subject `<prefix>.deadletter.<name>`.",
  },
};

/**
 * Environment variables. `setting` names the field of the worker's runtime
 * settings the variable fills, so its default is read from the loader.
 */
export const ENVIRONMENT_DOCS = [
  { name: "NATS_URL", setting: "natsServers", meaning: "NATS servers, comma-separated." },
  {
    name: "NATS_CREDS",
    setting: "natsCredsFile",
    meaning: "A NATS credentials file (JWT + NKey).",
  },
  { name: "NATS_NKEY_SEED", setting: "natsNkeySeedFile", meaning: "A file holding an NKey seed." },
  { name: "NATS_TOKEN", setting: "natsToken", meaning: "Token authentication." },
  { name: "NATS_USER", setting: "natsUser", meaning: "User name authentication." },
  { name: "NATS_PASSWORD", setting: "natsPassword", meaning: "Password for `NATS_USER`." },
  { name: "NATS_TLS_CA", setting: "natsTlsCaFile", meaning: "CA file to verify the NATS server." },
  {
    name: "NATS_TLS_CERT",
    setting: "natsTlsCertFile",
    meaning: "Client certificate file (with `NATS_TLS_KEY`).",
  },
  {
    name: "NATS_TLS_KEY",
    setting: "natsTlsKeyFile",
    meaning: "Client key file (with `NATS_TLS_CERT`).",
  },
  {
    name: "NATS_PING_INTERVAL",
    setting: "natsPingIntervalMs",
    meaning:
      "How often the worker PINGs the server (more than 0, at most `24h`). Two PINGs unanswered at the next one mark the connection stale: `/readyz` turns 503 and the worker reconnects, so a silent partition (no close, no reset) is noticed within about 3 intervals.",
  },
  {
    name: "COMPONENTS_PATH",
    setting: "componentsPath",
    meaning: "Directory of Dapr component files.",
  },
  {
    name: "BINDINGS_SUBJECT_PREFIX",
    setting: "subjectPrefix",
    meaning: "Requests go to `<prefix>.<binding>`, durable ones to `<prefix>.durable.<binding>`.",
  },
  {
    name: "BINDINGS_QUEUE_GROUP",
    setting: "queueGroup",
    meaning: "Queue group every worker joins.",
  },
  {
    name: "BINDINGS_DURABLE",
    setting: "durable",
    meaning:
      "Also take durable requests from JetStream; without JetStream on the server the worker logs why and serves core requests only.",
  },
  {
    name: "HTTP_PORT",
    setting: "httpPort",
    meaning: "Port of `/livez`, `/readyz`, `/metrics`; `0` disables.",
  },
  {
    name: "MAX_IN_FLIGHT",
    setting: "maxInFlight",
    meaning: "Requests in flight per worker; beyond it 503 at once.",
  },
  { name: "MAX_REQUEST_BYTES", setting: "maxRequestBytes", meaning: "Larger requests get 413." },
  {
    name: "REQUEST_TIMEOUT",
    setting: "requestTimeoutMs",
    meaning:
      "A request's deadline, retries included (504 after it); callers may shorten it with `Binding-Timeout`. Redis retries stop there: none starts after it, nor a backoff that would end past it, so no retry writes after the caller was answered.",
  },
  {
    name: "SHUTDOWN_GRACE",
    setting: "shutdownGraceMs",
    meaning: "How long a stopping worker waits for the requests in flight.",
  },
  {
    name: "LOG_LEVEL",
    setting: "logLevel",
    meaning: "pino level: `fatal` ... `trace`, or `silent`.",
  },
];

/** Read by libraries rather than by the worker's loader: listed, no default to compute. */
export const PASSTHROUGH_ENVIRONMENT = [
  {
    name: "OTEL_*",
    meaning: "The standard OpenTelemetry SDK variables (exporters, sampling, resource).",
  },
];
