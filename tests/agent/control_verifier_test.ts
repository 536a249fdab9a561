// Signed control messages, both ends as pure code: the proxy's ControlSigner and the agent's
// ControlVerifier, with a fixed key and a fake clock. The test vector was computed with Python's
// hmac module, so the encoding is not only self-consistent.
import { describe, expect, test } from "bun:test";
import { ControlCounters, ControlVerifier } from "../../agent/control/control_verifier.ts";
import { controlMac, ControlSigner } from "../../proxy/registry/control_signer.ts";
import { controlMacInput, ControlMessageSchema, RegistrationSchema } from "../../shared/mod.ts";

/** bytes 0..31 in base64url */
const KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const OTHER_KEY = "HxAREhMUFRYXGBkaGxwdHh8AAECAwQFBgcICQoLDA0O";
const ID = 7;

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

/** A signer on a fake clock (ms), and a verifier for dataflow ID with KEY. */
function pair(startMs = 1_765_000_000_000) {
  let now = startMs;
  const signer = new ControlSigner(() => now);
  const counters = new ControlCounters();
  const verifier = new ControlVerifier(ID, KEY, counters);
  return { signer, verifier, counters, tick: (ms: number) => (now += ms), setNow: (ms: number) => (now = ms) };
}

describe("controlMacInput() and controlMac()", () => {
  test("`controlMacInput()` is the JSON array [version, id, send, seq]", () => {
    expect(controlMacInput({ id: ID, send: false, seq: 1_765_000_000_000_000 })).toBe('["vsb-control/1",7,false,1765000000000000]');
  });

  test("`controlMac()` is HMAC-SHA256 in base64url (vector from Python's hmac)", () => {
    expect(controlMac(KEY, { id: ID, send: false, seq: 1_765_000_000_000_000 })).toBe("0XnFm3kYeEogbsQ2zitAMS-3hhyaT3Sbw-o_MS8fdCM");
  });
});

describe("ControlSigner", () => {
  test("`sign()` gives {id, send, seq, mac} with seq = µs since the epoch, valid for ControlMessageSchema", () => {
    const { signer } = pair();
    const message = signer.sign(ID, true, KEY);
    expect(message).toEqual({ id: ID, send: true, seq: 1_765_000_000_000_000, mac: controlMac(KEY, { id: ID, send: true, seq: 1_765_000_000_000_000 }) });
    expect(ControlMessageSchema.parse(message)).toEqual(message);
  });

  test("`nextSeq()` grows strictly when the clock stands still or steps back", () => {
    const { signer, setNow } = pair();
    const a = signer.nextSeq();
    const b = signer.nextSeq();
    setNow(1_700_000_000_000); // NTP stepped back by months
    const c = signer.nextSeq();
    expect([b - a, c - b]).toEqual([1, 1]);
    setNow(1_800_000_000_000);
    expect(signer.nextSeq()).toBe(1_800_000_000_000_000);
  });

  test("a restarted signer (a new process) continues above the old one's seq while the clock moves on", () => {
    const { signer, setNow } = pair();
    for (let i = 0; i < 100; i++) signer.nextSeq(); // a burst: 100 µs ahead of the clock
    const last = signer.nextSeq();
    setNow(1_765_000_000_001); // 1 ms later
    expect(new ControlSigner(() => 1_765_000_000_001).nextSeq()).toBeGreaterThan(last);
  });

  test("without a key (a dataflow from before keys existed) it sends {id, send, seq} unsigned", () => {
    const { signer } = pair();
    expect(signer.sign(ID, false, null)).toEqual({ id: ID, send: false, seq: 1_765_000_000_000_000 });
  });

  test("the registration answer schema takes a 32-byte base64url key and refuses others", () => {
    const answer = { id: 1, topic: "video", routingKey: "video.h264.1", send: false, keepaliveSeconds: 5,
      ingest: { whipUrl: "http://x/whip/1", token: "t" }, udpForward: null };
    expect(RegistrationSchema.safeParse({ ...answer, control: { key: KEY, seq: 5 } }).success).toBe(true);
    expect(RegistrationSchema.safeParse(answer).success).toBe(true); // an older proxy: no key
    expect(RegistrationSchema.safeParse({ ...answer, control: { key: "short", seq: 5 } }).success).toBe(false);
    expect(RegistrationSchema.safeParse({ ...answer, control: { key: KEY } }).success).toBe(false); // no floor
  });
});

describe("ControlVerifier", () => {
  test("`check()` accepts genuine messages in order and counts them", () => {
    const { signer, verifier, counters, tick } = pair();
    expect(verifier.check(json(signer.sign(ID, true, KEY)))).toMatchObject({ ok: true, send: true });
    tick(5);
    expect(verifier.check(json(signer.sign(ID, false, KEY)))).toMatchObject({ ok: true, send: false });
    expect(counters.accepted).toBe(2);
    expect(counters.rejectedTotal).toBe(0);
  });

  test("`check()` refuses a forged {id, send:false} (no seq/mac), a wrong mac, a flipped send and another key", () => {
    const { signer, verifier, counters } = pair();
    const genuine = signer.sign(ID, true, KEY);
    expect(verifier.check(json({ id: ID, send: false }))).toEqual({ ok: false, reason: "unsigned" });
    expect(verifier.check(json({ ...genuine, send: false }))).toEqual({ ok: false, reason: "forged" });
    expect(verifier.check(json({ ...genuine, seq: genuine.seq! + 1 }))).toEqual({ ok: false, reason: "forged" });
    expect(verifier.check(json({ ...genuine, mac: "AAAA" }))).toEqual({ ok: false, reason: "forged" });
    expect(verifier.check(json({ ...genuine, mac: "" }))).toEqual({ ok: false, reason: "forged" });
    expect(verifier.check(json(new ControlSigner().sign(ID, false, OTHER_KEY)))).toEqual({ ok: false, reason: "forged" });
    expect(counters.rejected).toMatchObject({ unsigned: 1, forged: 5 });
    expect(verifier.check(json(genuine))).toMatchObject({ ok: true, send: true }); // the real one still works
  });

  test("`check()` refuses a replay of a captured genuine message, and anything not newer than the last accepted", () => {
    const { signer, verifier, counters, tick } = pair();
    const off = signer.sign(ID, false, KEY);
    tick(1);
    const on = signer.sign(ID, true, KEY);
    expect(verifier.check(json(off)).ok).toBe(true);
    expect(verifier.check(json(on)).ok).toBe(true);
    expect(verifier.check(json(off))).toEqual({ ok: false, reason: "replayed" }); // older
    expect(verifier.check(json(on))).toEqual({ ok: false, reason: "replayed" }); // the same again
    expect(verifier.lastSeq).toBe(on.seq!);
    expect(counters.rejected.replayed).toBe(2);
  });

  test("`check()` refuses what was signed before the registration answer's floor and before a keep-alive's `raiseFloor()`", () => {
    const { signer, tick } = pair();
    const atRegistration = signer.sign(ID, false, KEY); // published while the agent was not yet subscribed
    const floor = signer.nextSeq(); // the answer's control.seq
    tick(1);
    const on = signer.sign(ID, true, KEY); // missed too (MQTT not up yet); a keep-alive said send:true
    tick(1);
    const verifier = new ControlVerifier(ID, KEY, new ControlCounters(), floor);
    expect(verifier.check(json(atRegistration))).toEqual({ ok: false, reason: "replayed" });
    verifier.raiseFloor(signer.nextSeq()); // the keep-alive answer's controlSeq
    expect(verifier.check(json(on))).toEqual({ ok: false, reason: "replayed" });
    verifier.raiseFloor(0); // a floor never goes down
    expect(verifier.check(json(on))).toEqual({ ok: false, reason: "replayed" });
    tick(1);
    expect(verifier.check(json(signer.sign(ID, false, KEY)))).toMatchObject({ ok: true, send: false });
  });

  test("`check()` refuses non-JSON, bad bodies, other ids; and everything when it holds no key", () => {
    const { signer, verifier } = pair();
    expect(verifier.check("not json")).toEqual({ ok: false, reason: "not JSON" });
    expect(verifier.check(json({ id: ID, send: "yes" }))).toEqual({ ok: false, reason: "unexpected body" });
    expect(verifier.check(json(signer.sign(ID + 1, true, KEY)))).toEqual({ ok: false, reason: "other dataflow" });
    const keyless = new ControlVerifier(ID, undefined);
    expect(keyless.check(json(signer.sign(ID, true, KEY)))).toEqual({ ok: false, reason: "no key" });
  });
});
