import { describe, expect, it } from "vitest";
import { parseBindingSettings } from "../../../src/config/binding-schema.js";
import { describeBinding } from "../../../src/config/describe.js";

const CERT = `-----BEGIN CERTIFICATE-----\n${"A".repeat(600)}\n-----END CERTIFICATE-----\n`;
const KEY = "-----BEGIN PRIVATE KEY-----\nS3CRETKEYMATERIAL\n-----END PRIVATE KEY-----\n";

function settingsOf(metadata: Record<string, string>) {
  return parseBindingSettings({
    file: "cache.yaml",
    name: "cache",
    metadata: Object.entries(metadata).map(([name, value]) => ({ name, value })),
  }).settings;
}

describe("describeBinding", () => {
  it("masks every secret and shortens the certificate", () => {
    const view = describeBinding(
      settingsOf({
        redisHost: "h:1",
        redisUsername: "app",
        redisPassword: "pw-1234567",
        enableTLS: "true",
        clientCert: CERT,
        clientKey: KEY,
        failover: "true",
        sentinelMasterName: "mymaster",
        sentinelPassword: "sentinel-pw-7654321",
      }),
    );
    expect(view.redisPassword).toBe("****");
    expect(view.sentinelPassword).toBe("****");
    expect(view.clientKey).toBe("****");
    expect(view.redisUsername).toBe("app");
    expect(view.clientCert).toMatch(/^-----BEGIN CERTIFICATE----- \.\.\. \(\d+ chars\)$/);
    const printed = JSON.stringify(view);
    for (const secret of ["pw-1234567", "sentinel-pw-7654321", "S3CRETKEYMATERIAL", "AAAAAAAAAA"]) {
      expect(printed).not.toContain(secret);
    }
  });

  it("leaves unset secrets unset", () => {
    const view = describeBinding(settingsOf({ redisHost: "h" }));
    expect(view.redisPassword).toBeUndefined();
    expect(view.sentinelPassword).toBeUndefined();
    expect(view.clientKey).toBeUndefined();
    expect(view.clientCert).toBeUndefined();
  });

  it("prints durations the way a component would write them", () => {
    const view = describeBinding(
      settingsOf({
        redisHost: "a,[::1]:7000",
        redeliverInterval: "0",
        readTimeout: "-1",
        idleCheckFrequency: "-1",
        redisMinRetryInterval: "-1",
      }),
    );
    expect(view).toMatchObject({
      name: "cache",
      file: "cache.yaml",
      addresses: ["a:6379", "[::1]:7000"],
      redeliverInterval: "disabled",
      processingTimeout: "15s",
      redisMinRetryInterval: "no backoff",
      redisMaxRetryInterval: "512ms",
      dialTimeout: "5s",
      readTimeout: "none",
      writeTimeout: "none",
      poolTimeout: "30s",
      maxConnAge: "none",
      idleCheckFrequency: "disabled",
      idleTimeout: "5m",
      explicitFields: [
        "idleCheckFrequency",
        "readTimeout",
        "redeliverInterval",
        "redisHost",
        "redisMinRetryInterval",
      ],
    });
  });
});

describe("describeBinding with values from a secret store or the environment", () => {
  it("masks every field that came from one, whatever the field, and the addresses with redisHost", () => {
    const view = describeBinding(
      parseBindingSettings({
        file: "cache.yaml",
        name: "cache",
        metadata: [
          { name: "redisHost", value: "redis-prod.internal.example:6380", concealed: true },
          { name: "redisUsername", value: "svc-orders", concealed: true },
          { name: "azureClientID", value: "1111-2222", concealed: true },
          { name: "redisDB", value: "3" },
        ],
      }).settings,
    );
    expect(view).toMatchObject({
      redisHost: "****",
      addresses: "****",
      redisUsername: "****",
      azureClientID: "****",
      redisDB: 3,
      concealedFields: ["azureClientID", "redisHost", "redisUsername"],
    });
    const printed = JSON.stringify(view);
    for (const hidden of ["redis-prod", "6380", "svc-orders", "1111-2222"]) {
      expect(printed).not.toContain(hidden);
    }
  });

  it("prints fields written in the file as they are", () => {
    const view = describeBinding(settingsOf({ redisHost: "h:1", redisUsername: "app" }));
    expect(view).toMatchObject({ redisHost: "h:1", addresses: ["h:1"], redisUsername: "app" });
    expect(view.concealedFields).toEqual([]);
  });
});
