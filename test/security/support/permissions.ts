/**
 * The nats-server configurations of README "Security / trust model", as the
 * tests run them. `$PASSWORD` stands for each user's own password.
 */

/** Core request-reply only (BINDINGS_DURABLE=false): users with permissions. */
export function corePermissions(password: string): string {
  return `authorization {
  users = [
    # Workers: their binding subjects and discovery; they publish nothing but replies.
    { user: "worker", password: "${password}", permissions: {
        subscribe: ["bindings.cache", "bindings.orders", "$SRV.>"]
        publish: { deny: [">"] }
        allow_responses: true
    } }
    # A caller of the cache binding, reading only its own inbox.
    { user: "billing", password: "${password}", permissions: {
        publish: ["bindings.cache"]
        subscribe: ["_INBOX_billing.>"]
    } }
    # A caller of the orders binding.
    { user: "shop", password: "${password}", permissions: {
        publish: ["bindings.orders"]
        subscribe: ["_INBOX_shop.>"]
    } }
    # Operators: discovery only.
    { user: "ops", password: "${password}", permissions: {
        publish: ["$SRV.>"]
        subscribe: ["_INBOX_ops.>"]
    } }
  ]
}
`;
}

/**
 * With the durable intake (JetStream enabled on the server): the worker also manages its stream and
 * consumers, pulls and acknowledges, publishes dead letters and replies to
 * the callers' inboxes named in Binding-Reply-To.
 */
export function durablePermissions(password: string): string {
  return `authorization {
  users = [
    { user: "worker", password: "${password}", permissions: {
        subscribe: ["bindings.cache", "bindings.orders", "$SRV.>", "_INBOX.>",
                    "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"]
        publish: ["$JS.API.>", "$JS.ACK.>", "bindings.deadletter.>",
                  "_INBOX_billing.>", "_INBOX_shop.>"]
        allow_responses: true
    } }
    { user: "billing", password: "${password}", permissions: {
        publish: ["bindings.cache", "bindings.durable.cache"]
        subscribe: ["_INBOX_billing.>"]
    } }
    { user: "shop", password: "${password}", permissions: {
        publish: ["bindings.orders", "bindings.durable.orders"]
        subscribe: ["_INBOX_shop.>"]
    } }
  ]
}
`;
}

/**
 * Accounts: the workers in an account of their own that exports the binding
 * subjects as services; each caller's account imports only its bindings. The
 * server rewrites reply subjects across accounts, so a reply can only ever
 * reach the caller that asked.
 */
export function accountsConfig(password: string): string {
  return `accounts {
  BINDINGS: {
    users: [ { user: "worker", password: "${password}" } ]
    exports: [
      { service: "bindings.cache" }
      { service: "bindings.orders" }
    ]
  }
  BILLING: {
    users: [ { user: "billing", password: "${password}" } ]
    imports: [ { service: { account: BINDINGS, subject: "bindings.cache" } } ]
  }
  SHOP: {
    users: [ { user: "shop", password: "${password}" } ]
    imports: [ { service: { account: BINDINGS, subject: "bindings.orders" } } ]
  }
}
`;
}
