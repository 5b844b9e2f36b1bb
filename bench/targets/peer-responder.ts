/**
 * The peer: what a team would write by hand instead of using the worker.
 * Parse JSON, run one command, reply. No validation, no retries, no tracing.
 */
import { connect, type Msg } from "@nats-io/transport-node";
import { Redis } from "ioredis";

const [
  natsUrl = "nats://127.0.0.1:4222",
  redisUrl = "redis://127.0.0.1:6379",
  subject = "bindings.cache",
] = process.argv.slice(2);
const redis = new Redis(redisUrl);
const nc = await connect({ servers: natsUrl });
async function handle(msg: Msg): Promise<void> {
  try {
    const request = msg.json<{ operation: string; metadata: { key: string }; data?: unknown }>();
    const key = request.metadata.key;
    if (request.operation === "create") {
      await redis.set(key, JSON.stringify(request.data));
      msg.respond();
    } else if (request.operation === "get") {
      const value = await redis.get(key);
      msg.respond(value === null ? undefined : `{"data":${value}}`);
    } else if (request.operation === "delete") {
      await redis.del(key);
      msg.respond();
    } else {
      msg.respond(`{"data":${await redis.incr(key)}}`);
    }
  } catch (error) {
    msg.respond(JSON.stringify({ error: String(error) }));
  }
}
nc.subscribe(subject, { queue: "redis-binding", callback: (_error, msg) => void handle(msg) });
await nc.flush();
process.stdout.write("ready\n");
process.on("SIGTERM", () => {
  nc.drain().finally(() => process.exit(0));
});
