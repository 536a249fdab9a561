// The AMQP 1.0 sections vsb hands RabbitMQ in its x-amqp-1.0-* headers: byte for byte against
// encodings written out from OASIS AMQP 1.0 (part 1 §1.6 primitive types, part 3 §3.2.4-5
// sections), the per-frame writer against encoding everything at once, and decoded back by
// Qpid Proton (Debian's python3-qpid-proton under /usr/bin/python3) with its types.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { AppPropertiesWriter, encodeAppProperties } from "../../proxy/bus/amqp10_app_properties.ts";
import { PropertiesWriter } from "../../proxy/bus/amqp10_properties.ts";
import { skipUnless } from "../support/gst.ts";

const PYTHON = "/usr/bin/python3";
const peer = new URL("../e2e/amqp10_peer.py", import.meta.url).pathname;
const hasProton = spawnSync(PYTHON, ["-c", "import proton"]).status === 0;
const withProton = skipUnless(hasProton, `${PYTHON} has no Qpid Proton (apt-get install python3-qpid-proton)`);

/** Proton's decoding of `bytes`: [type, value] as tests/e2e/amqp10_peer.py prints it. */
function protonDecode(bytes: Uint8Array): unknown {
  const run = spawnSync(PYTHON, [peer, "decode", Buffer.from(bytes).toString("hex")], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`amqp10_peer.py decode failed: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const str8 = (s: string) => Buffer.concat([Buffer.from([0xa1, s.length]), Buffer.from(s)]).toString("hex");

describe("encodeAppProperties()", () => {
  test("writes the described map32 of part 3 §3.2.5 with str8 keys, long, boolean and str8 values", () => {
    const pairs = [
      str8("sourceId"), "81 00 00 00 00 00 00 00 07", // long 7 (§1.6.11)
      str8("keyframe"), "41", // boolean true (§1.6.2)
      str8("seq"), "81 ff ff ff ff ff ff ff fe", // long -2, two's complement
      str8("body_size"), str8("1234"), // string (§1.6.20)
    ].join("");
    const body = hex(pairs);
    const expected = Buffer.concat([hex("00 53 74 d1"), Buffer.from([0, 0, 0, body.length + 4, 0, 0, 0, 8]), body]);
    expect(encodeAppProperties({ sourceId: 7, keyframe: true, seq: -2, body_size: 1234 })).toEqual(expected);
  });

  test("a string of 256 bytes or more is a str32 (0xb1, u32 length)", () => {
    const long = "q".repeat(300);
    const out = encodeAppProperties({ locationQuadkey: long });
    const at = 12 + 2 + "locationQuadkey".length;
    expect([...out.subarray(at, at + 5)]).toEqual([0xb1, 0, 0, 0x01, 0x2c]);
    expect(out.length).toBe(at + 5 + 300);
  });

  test("refuses a property it has no AMQP 1.0 type for, and a long that is not an integer", () => {
    expect(() => encodeAppProperties({ colour: "red" })).toThrow(/"colour" has no type/);
    expect(() => encodeAppProperties({ seq: "x" })).toThrow(/"seq" must be an integer, got "x"/);
  });
});

describe("AppPropertiesWriter", () => {
  test("a constant prefix plus per-frame fields is the same section as encoding them all at once", () => {
    const constant = { dataType: "video", dataSubType: "h264", dataSampleRate: 29.97, sourceId: 12, locationQuadkey: "0313331232" };
    const writer = new AppPropertiesWriter(constant, ["body_size", "keyframe", "seq", "captureTime"]);
    for (const frame of [
      { body_size: 0, keyframe: false, seq: 0, captureTime: 1_765_000_000_123 },
      { body_size: 123_456, keyframe: true, seq: 2 ** 32 + 1, captureTime: 1_765_000_000_123.6 },
    ]) {
      expect(writer.write(frame)).toEqual(encodeAppProperties({ ...constant, ...frame }));
    }
  });
});

describe("PropertiesWriter", () => {
  test("writes the described list32 of part 3 §3.2.4 up to creation-time, a timestamp in ms", () => {
    const elements = hex(["40 40 40", str8("video.h264.1"), "40 40", "a3 0a", Buffer.from("video/h264").toString("hex"), "40 40",
      "83 00 00 01 8b cf e5 68 7b"].join(""));
    const expected = Buffer.concat([hex("00 53 73 d0"), Buffer.from([0, 0, 0, elements.length + 4, 0, 0, 0, 10]), elements]);
    expect(new PropertiesWriter({ subject: "video.h264.1", contentType: "video/h264" }).write(1_700_000_000_123)).toEqual(expected);
  });
});

describe("decoded by Qpid Proton", () => {
  withProton("application-properties: a described map (descriptor 0x74) with each value's AMQP type", () => {
    const writer = new AppPropertiesWriter({ dataType: "video", sourceId: 3, dataSampleRate: 30 }, ["body_size", "keyframe", "rtpTimestamp"]);
    const decoded = protonDecode(writer.write({ body_size: 4321, keyframe: true, rtpTimestamp: 4_294_967_295 }));
    expect(decoded).toEqual(["described", {
      descriptor: ["ulong", 0x74],
      value: ["map", [
        [["string", "dataType"], ["string", "video"]],
        [["string", "sourceId"], ["long", 3]],
        [["string", "dataSampleRate"], ["string", "30"]],
        [["string", "body_size"], ["string", "4321"]],
        [["string", "keyframe"], ["boolean", true]],
        [["string", "rtpTimestamp"], ["long", 4_294_967_295]],
      ]],
    }]);
  });

  withProton("properties: message-id, subject, content-type and creation-time where part 3 §3.2.4 puts them", () => {
    const decoded = protonDecode(new PropertiesWriter({ messageId: "m-1", subject: "newdataflow", contentType: "application/json" }).write(1_765_000_000_999));
    expect(decoded).toEqual(["described", {
      descriptor: ["ulong", 0x73],
      value: ["list", [
        ["string", "m-1"], ["null", null], ["null", null], ["string", "newdataflow"], ["null", null], ["null", null],
        ["symbol", "application/json"], ["null", null], ["null", null], ["timestamp", 1_765_000_000_999],
      ]],
    }]);
  });
});
