import { expect, test } from "bun:test";
import { hasCommand, hasElement, hasGst, missingElements, skipUnless } from "./gst.ts";

test("hasCommand() finds sh and not a made-up command", () => {
  expect(hasCommand("sh")).toBe(true);
  expect(hasCommand("vsb-no-such-command")).toBe(false);
});

test("hasElement() is false for a made-up element", () => {
  expect(hasElement("vsbnosuchelement")).toBe(false);
  expect(missingElements("vsbnosuchelement")).toEqual(["vsbnosuchelement"]);
});

skipUnless(hasGst(), "GStreamer (gst-launch-1.0) is not installed")("hasElement() finds core elements when GStreamer is installed", () => {
  expect(hasElement("fakesink")).toBe(true);
  expect(missingElements("fakesink", "vsbnosuchelement")).toEqual(["vsbnosuchelement"]);
});

test("skipUnless() returns test when the condition holds and test.skip otherwise", () => {
  expect(skipUnless(true, "unused")).toBe(test);
  expect(skipUnless(false, "skipUnless() self-test: this reason is printed once")).toBe(test.skip);
});
