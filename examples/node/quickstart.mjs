// A binding called from Node with the typed client.
//   npm run build && NATS_URL=nats://127.0.0.1:4222 node examples/node/quickstart.mjs
// In your own project: npm install redis-binding-worker @nats-io/transport-node
import { connect } from "@nats-io/transport-node";
import { BindingClient, InvalidRequestError, NoRespondersError } from "redis-binding-worker/client";

const nc = await connect({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222" });
const cache = new BindingClient(nc, "cache", { timeout: "5s" });

try {
  await cache.create("greeting", { hello: "world" }, { ttl: "1h" });
  console.log("get greeting:", await cache.get("greeting"));
  console.log("increment hits:", await cache.increment("hits"));
  console.log("increment hits:", await cache.increment("hits", { ttl: 60 }));

  // Bytes are stored as they are (raw mode) and come back as a Uint8Array.
  await cache.create("logo", new Uint8Array([0x89, 0x50, 0x4e, 0x47]));
  console.log("get logo (raw):", await cache.get("logo", { raw: true }));

  console.log("get greeting, deleting it:", await cache.get("greeting", { delete: true }));
  console.log("get greeting again:", await cache.get("greeting"));

  // Errors are classes carrying the protocol's code and whether a retry may help.
  try {
    await cache.create("bad", 1, { ttl: 0 });
  } catch (error) {
    if (!(error instanceof InvalidRequestError)) throw error;
    console.log(`create with ttl 0: ${error.status} ${error.code}, retryable: ${error.retryable}`);
  }
  try {
    await new BindingClient(nc, "nosuchbinding").get("k");
  } catch (error) {
    if (!(error instanceof NoRespondersError)) throw error;
    console.log(`unknown binding: ${error.code}, retryable: ${error.retryable}`);
  }
} finally {
  await nc.close();
}
