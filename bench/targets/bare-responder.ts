/**
 * The limit: a NATS responder that answers every request at once with an
 * empty payload. Nothing can be faster over the same NATS server.
 */
import { connect } from "@nats-io/transport-node";

const [url = "nats://127.0.0.1:4222", subject = "bindings.cache", queue = "redis-binding"] =
  process.argv.slice(2);
const nc = await connect({ servers: url });
nc.subscribe(subject, {
  queue,
  callback: (_error, msg) => {
    msg.respond();
  },
});
await nc.flush();
process.stdout.write("ready\n");
process.on("SIGTERM", () => {
  nc.drain().finally(() => process.exit(0));
});
