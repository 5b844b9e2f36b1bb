import { describe, expect, it } from "vitest";
import { parseBindingSettings } from "../../../src/config/binding-schema.js";
import { describeTarget } from "../../../src/config/target.js";

type Entry = { name: string; value: string; concealed?: boolean };

function targetOf(metadata: Entry[]): string {
  return describeTarget(parseBindingSettings({ file: "c.yaml", name: "cache", metadata }).settings);
}

describe("describeTarget (the start-up line's Redis target)", () => {
  it("says topology, hosts, db, transport and user", () => {
    expect(
      targetOf([
        { name: "redisHost", value: "redis-a:6380" },
        { name: "redisDB", value: "2" },
        { name: "redisUsername", value: "app" },
        { name: "redisPassword", value: "pw-secret-1" },
      ]),
    ).toBe("node redis-a:6380, db 2, plaintext, user app");
    expect(
      targetOf([
        { name: "redisHost", value: "s1:26379,s2:26379" },
        { name: "failover", value: "true" },
        { name: "sentinelMasterName", value: "mymaster" },
        { name: "enableTLS", value: "true" },
      ]),
    ).toBe("sentinel mymaster@s1:26379,s2:26379, tls");
  });

  it("masks hosts, user and master name that came from a secret store or the environment", () => {
    const line = targetOf([
      { name: "redisHost", value: "prod-redis.internal:6380", concealed: true },
      { name: "failover", value: "true" },
      { name: "sentinelMasterName", value: "orders-master", concealed: true },
      { name: "redisUsername", value: "svc-orders", concealed: true },
    ]);
    expect(line).toBe("sentinel ****@****, plaintext, user ****");
  });
});
