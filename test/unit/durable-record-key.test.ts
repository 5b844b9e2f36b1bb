import { describe, expect, it } from "vitest";
import {
  crc16,
  hashedPart,
  keySlot,
  recordKey,
  recordTag,
  tagForSlot,
} from "../../src/redis/idempotent-key.js";

describe("durable record keys share the data key's hash slot", () => {
  it("computes Redis Cluster's CRC16 and slots", () => {
    // The check value of CRC-16/XMODEM, and slots from the Redis cluster spec.
    expect(crc16(Buffer.from("123456789"))).toBe(0x31c3);
    expect(keySlot("somekey")).toBe(11058);
    expect(keySlot("foo{hash_tag}")).toBe(keySlot("hash_tag"));
  });

  it.each([
    ["plain", "plain"],
    ["user:{42}:cart", "42"],
    ["{a}{b}", "a"],
    ["x{}y", "x{}y"],
    ["open{only", "open{only"],
    ["{{a}", "{a"],
    ["}b{c}", "c"],
  ])("hashes %j by %j, as Redis does", (key, part) => {
    expect(hashedPart(key)).toBe(part);
  });

  it.each([
    "plain",
    "user:{42}:cart",
    "{a}{b}",
    "x{}y",
    "open{only",
    "{{a}",
    "a}b",
    "x{}y}",
    "}",
    "ключ{значение}",
    "emoji🙂}",
  ])("puts the record of %j in the same slot", (key) => {
    const record = recordKey("cache", key, "msg-1");
    expect(keySlot(record)).toBe(keySlot(key));
    expect(record.startsWith("rbw:applied:{")).toBe(true);
    expect(record.endsWith(":cache:msg-1")).toBe(true);
  });

  it("uses the hashed part itself as the tag whenever it can be written as one", () => {
    expect(recordTag("user:{42}:cart")).toBe("42");
    expect(recordTag("plain")).toBe("plain");
    expect(recordKey("cache", "plain", "id")).toBe("rbw:applied:{plain}:cache:id");
  });

  it("finds a brace-free stand-in tag for keys whose hashed part contains }", () => {
    const tag = recordTag("a}b");
    expect(tag).not.toContain("}");
    expect(tag).not.toContain("{");
    expect(keySlot(`{${tag}}`)).toBe(keySlot("a}b"));
    for (const slot of [0, 1, 8191, 16383]) expect(keySlot(tagForSlot(slot))).toBe(slot);
  });
});
