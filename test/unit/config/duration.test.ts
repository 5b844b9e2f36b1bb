import { describe, expect, it } from "vitest";
import {
  formatDuration,
  parseBool,
  parseDurationOrMs,
  parseDurationSetting,
  parseGoDuration,
  parseInteger,
  ValueFormatError,
} from "../../../src/config/duration.js";

describe("parseGoDuration", () => {
  it.each([
    ["300ms", 300],
    ["30s", 30_000],
    ["1m30s", 90_000],
    ["2h45m", 9_900_000],
    ["1.5h", 5_400_000],
    [".5s", 500],
    ["1.s", 1000],
    ["10us", 0.01],
    ["10\u00b5s", 0.01],
    ["10\u03bcs", 0.01],
    ["1500000ns", 1.5],
    ["0", 0],
    ["-0", 0],
    ["+5s", 5000],
    ["-1m30s", -90_000],
    ["1h1m1s1ms", 3_661_001],
    ["0.001ms", 0.001],
  ])("reads %s as %d ms", (text, ms) => {
    expect(parseGoDuration(text)).toBeCloseTo(ms, 9);
  });

  it.each(["", "5", "-", "s", ".s", "1.5", "1sec", "1 s", "1d", "3m-1s", " 3s", "9999999999h"])(
    "rejects %j",
    (text) => {
      expect(() => parseGoDuration(text)).toThrow(ValueFormatError);
    },
  );

  it("never quotes the text in its message", () => {
    try {
      parseGoDuration("hunter2xyz");
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain("hunter2");
      expect((error as Error).message).not.toContain("xyz");
    }
  });
});

describe("parseDurationSetting", () => {
  it.each([
    ["8ms", { kind: "ms", ms: 8 }],
    ["30s", { kind: "ms", ms: 30_000 }],
    ["1m30s", { kind: "ms", ms: 90_000 }],
    ["250", { kind: "ms", ms: 250 }],
    [" 250 ", { kind: "ms", ms: 250 }],
    ["-1", { kind: "disabled" }],
    ["0", { kind: "zero" }],
    ["0s", { kind: "zero" }],
    ["00", { kind: "zero" }],
    ["500us", { kind: "ms", ms: 1 }],
    ["1.5ms", { kind: "ms", ms: 2 }],
  ])("classifies %j", (text, expected) => {
    expect(parseDurationSetting(text)).toEqual(expected);
  });

  it.each(["-2", "-1s", "-5ms", "abc", "1x"])("rejects %j", (text) => {
    expect(() => parseDurationSetting(text)).toThrow(ValueFormatError);
  });
});

describe("parseDurationOrMs", () => {
  it("takes a bare integer as milliseconds and a Go duration otherwise", () => {
    expect(parseDurationOrMs("1500")).toBe(1500);
    expect(parseDurationOrMs("10s")).toBe(10_000);
    expect(parseDurationOrMs("0")).toBe(0);
    expect(parseDurationOrMs("100us")).toBe(1);
  });

  it("rejects negative values and garbage", () => {
    expect(() => parseDurationOrMs("-1")).toThrow(ValueFormatError);
    expect(() => parseDurationOrMs("-3s")).toThrow(ValueFormatError);
    expect(() => parseDurationOrMs("soon")).toThrow(ValueFormatError);
  });
});

describe("parseBool", () => {
  it.each([
    ["true", true],
    ["TRUE", true],
    ["True", true],
    ["tRuE", true],
    ["t", true],
    ["T", true],
    ["1", true],
    ["false", false],
    ["FALSE", false],
    ["f", false],
    ["F", false],
    ["0", false],
    [" true ", true],
  ])("reads %j as %s", (text, value) => {
    expect(parseBool(text)).toBe(value);
  });

  it.each(["yes", "no", "on", "2", "", "truee"])("rejects %j", (text) => {
    expect(() => parseBool(text)).toThrow(ValueFormatError);
  });
});

describe("parseInteger", () => {
  it("reads Go Atoi syntax within a range", () => {
    expect(parseInteger("42")).toBe(42);
    expect(parseInteger("+7")).toBe(7);
    expect(parseInteger("-1", { min: -1 })).toBe(-1);
    expect(() => parseInteger("-2", { min: -1 })).toThrow(/at least -1/);
    expect(() => parseInteger("70000", { max: 65535 })).toThrow(/at most 65535/);
    expect(() => parseInteger("1.5")).toThrow(ValueFormatError);
    expect(() => parseInteger("0x10")).toThrow(ValueFormatError);
    expect(() => parseInteger("99999999999999999999")).toThrow(/out of range/);
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0s"],
    [8, "8ms"],
    [512, "512ms"],
    [1500, "1.5s"],
    [60_000, "1m"],
    [90_000, "1m30s"],
    [3_600_000, "1h"],
    [3_661_000, "1h1m1s"],
  ])("renders %d ms as %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
