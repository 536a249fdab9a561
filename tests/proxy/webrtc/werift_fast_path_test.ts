// installWeriftFastPath(): the proxy's ingest installs it when it loads; it is tied to the pinned
// werift (another version: one warning, werift as shipped); and its self-check refuses
// replacements that differ from werift (a misread bit, a dropped field, an SRTP decrypt that
// forgets the ROC or keeps state after a failed packet, a getter frozen at negotiation).
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { RTCRtpCodecParameters, RTCRtpReceiver, RtpHeader, RtpPacket } from "werift";
import "../../../proxy/ingest/whip_session.ts";
import { configureLog, logger } from "../../../proxy/log.ts";
import { fastRtpHeaderParser, type HeaderLike } from "../../../proxy/webrtc/fast_rtp_header.ts";
import {
  checkInputsOf, installWeriftFastPath, PINNED_WERIFT_VERSION, PROBE_KEYS, stockWerift, uninstallWeriftFastPath,
} from "../../../proxy/webrtc/werift_fast_path.ts";
import { type CheckInputs, checkFastPath } from "../../../proxy/webrtc/werift_fast_path_check.ts";
import { ensureFastPath } from "./stock_werift.ts";

const root = new URL("../../../", import.meta.url);
afterAll(ensureFastPath);

/** The fast members as installed, by the name of the member they replace. */
function installed(): CheckInputs["fast"] {
  const s = stockWerift();
  const get = (o: object, k: string) => Object.getOwnPropertyDescriptor(o, k)!.get! as () => unknown;
  return {
    deSerialize: RtpHeader.deSerialize as never,
    clone: RtpPacket.prototype.clone as never,
    decryptRtp: (s.srtpContextProto as { decryptRtp: never }).decryptRtp,
    addPacket: (s.nackHandlerProto as { addPacket: never }).addPacket,
    nackEnabled: get(RTCRtpReceiver.prototype, "nackEnabled"),
    twccEnabled: get(RTCRtpReceiver.prototype, "twccEnabled"),
    pliEnabled: get(RTCRtpReceiver.prototype, "pliEnabled"),
    name: get(RTCRtpCodecParameters.prototype, "name"),
  };
}

/** The self-check's inputs with `fast` changed by `change`. */
function inputs(change: Partial<CheckInputs["fast"]>): CheckInputs {
  return checkInputsOf(stockWerift(), { ...installed(), ...change });
}

describe("installWeriftFastPath()", () => {
  test("is in once the proxy's ingest is loaded", () => {
    expect(RtpHeader.deSerialize).not.toBe(stockWerift().deSerialize);
    expect(installWeriftFastPath(logger("test"))).toEqual({ installed: true });
  });

  test("is written for the werift that package.json pins and node_modules holds", () => {
    const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8")) as { dependencies: Record<string, string> };
    const werift = JSON.parse(readFileSync(new URL("node_modules/werift/package.json", root), "utf8")) as { version: string };
    expect(pkg.dependencies.werift).toBe(PINNED_WERIFT_VERSION);
    expect(werift.version).toBe(PINNED_WERIFT_VERSION);
  });

  test("with another werift version: one warning, every member as werift ships it", () => {
    const lines: string[] = [];
    configureLog({ level: "info", sink: (line) => lines.push(line) });
    try {
      uninstallWeriftFastPath();
      const status = installWeriftFastPath(logger("test"), { version: "0.25.3" });
      expect(status).toEqual({ installed: false, reason: 'werift is "0.25.3", the fast path is made for "0.25.2"' });
      expect(installWeriftFastPath(logger("test"))).toBe(status); // refused once, not retried
      expect(lines.length).toBe(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ level: "warn", msg: "werift fast path not installed, running werift as shipped" });
      expect(RtpHeader.deSerialize as unknown).toBe(stockWerift().deSerialize);
      expect(RtpPacket.prototype.clone as unknown).toBe(stockWerift().clone);
      expect((stockWerift().srtpContextProto as { decryptRtp: unknown }).decryptRtp).toBe(stockWerift().decryptRtp);
      expect(Object.getOwnPropertyDescriptor(RTCRtpReceiver.prototype, "twccEnabled")!.get).toBe(stockWerift().getters.twccEnabled);
    } finally {
      configureLog({ level: "silent", sink: (line) => process.stderr.write(line) });
      uninstallWeriftFastPath();
    }
  });

  test("its self-check passes the installed members", () => {
    ensureFastPath();
    expect(() => checkFastPath(inputs({}), PROBE_KEYS)).not.toThrow();
  });

  test("its self-check refuses replacements that differ from werift", () => {
    ensureFastPath();
    const parse = fastRtpHeaderParser(RtpHeader.prototype, stockWerift().deSerialize);
    const fast = installed();
    const cases: [string, Partial<CheckInputs["fast"]>, RegExp][] = [
      ["a parser that drops the marker", { deSerialize: (raw) => ({ ...parse(raw), marker: false }) as HeaderLike }, /prototype|marker/],
      ["a parser that misreads the padding count", { deSerialize: (raw) => Object.assign(parse(raw), { paddingSize: 0 }) }, /paddingSize/],
      ["a clone that drops a field", {
        clone(this: unknown) {
          const c = fast.clone.call(this) as { header: Record<string, unknown> };
          delete c.header.extensionLength;
          return c;
        },
      }, /keys/],
      ["a decrypt that ignores the ROC", {
        decryptRtp(this: { srtpSSRCStates: Record<number, { rolloverCounter: number }> }, b: Buffer) {
          for (const s of Object.values(this.srtpSSRCStates)) s.rolloverCounter = 0;
          return fast.decryptRtp.call(this as never, b);
        },
      } as never, /differs|rejected/],
      ["a decrypt that keeps state from a rejected packet", {
        decryptRtp(this: { srtpSSRCStates: Record<number, { lastSequenceNumber: number }> }, b: Buffer) {
          const states = Object.values(this.srtpSSRCStates);
          try {
            return fast.decryptRtp.call(this as never, b);
          } catch (error) {
            for (const s of states) s.lastSequenceNumber = b.readUInt16BE(2);
            throw error;
          }
        },
      } as never, /ROC state/],
      ["a getter frozen at negotiation", { twccEnabled: (() => { const frozen = fast.twccEnabled.call(new RTCRtpReceiver({ debug: {} } as never, "video", 1)); return () => frozen; })() }, /twccEnabled/],
      ["a codec name that lowercases", { name(this: RTCRtpCodecParameters) { return this.mimeType.split("/")[1]!.toLowerCase(); } }, /codec\.name/],
    ];
    for (const [what, change, message] of cases) {
      expect(() => checkFastPath(inputs(change), PROBE_KEYS), what).toThrow(message);
    }
  });
});
