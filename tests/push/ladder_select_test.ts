// LadderSelect: which rung one session sends, switched at the target rung's keyframe without a
// half picture of either rung, and keyframes only on a link too small for the lowest rung.
import { describe, expect, test } from "bun:test";
import { LadderSelect, type SendMark } from "../../agent/push/ladder_select.ts";

const FU_KEY_START = [0x7c, 0x85];
const FU_P_START = [0x7c, 0x81];
const FU_MIDDLE = [0x7c, 0x05];

/** Packet `part` of picture `n` of `rung` (payload type 96 + rung, timestamp n × 3000). */
function pkt(rung: number, n: number, part: number, keyframe: boolean, aud = false): Uint8Array {
  const payload = aud ? [0x09, 0xf0] : part > 0 ? FU_MIDDLE : keyframe ? FU_KEY_START : FU_P_START;
  const p = new Uint8Array(12 + payload.length + 4);
  p[0] = 0x80;
  p[1] = 96 + rung;
  new DataView(p.buffer).setUint32(4, n * 3000);
  new DataView(p.buffer).setUint32(8, 1000 + rung);
  p.set(payload, 12);
  return p;
}

const rungOf = (p: Uint8Array) => p[1]! - 96;
const pictureOf = (p: Uint8Array) => new DataView(p.buffer, p.byteOffset).getUint32(4) / 3000;

/** Pictures `from`..`to` of every rung, interleaved as gst's funnel does, `parts` packets each; keyframe every `keyint`. */
function capture(rungs: number, from: number, to: number, options: { parts?: number; keyint?: number; lag?: number } = {}): Uint8Array[] {
  const { parts = 3, keyint = 30, lag = 0 } = options;
  const out: Uint8Array[] = [];
  // Rung r runs `lag × r` pictures behind rung 0 (each encoder is its own thread).
  for (let n = from; n <= to + lag * (rungs - 1); n++) {
    for (let r = 0; r < rungs; r++) {
      const pic = n - lag * r;
      if (pic < from || pic > to) continue;
      for (let part = 0; part < parts; part++) out.push(pkt(r, pic, part, pic % keyint === 0));
    }
  }
  return out;
}

function run(select: LadderSelect, packets: Uint8Array[], onPacket?: (i: number) => void) {
  const sent: { rung: number; picture: number; mark: SendMark }[] = [];
  packets.forEach((p, i) => {
    onPacket?.(i);
    select.accept(p, (q, mark) => sent.push({ rung: rungOf(q), picture: pictureOf(q), mark }));
  });
  return sent;
}

describe("LadderSelect", () => {
  test("sends the top rung only, every packet of it, unmarked", () => {
    const sent = run(new LadderSelect(3), capture(3, 0, 59));
    expect(sent.length).toBe(60 * 3);
    expect(new Set(sent.map((s) => s.rung))).toEqual(new Set([0]));
    expect(sent.every((s) => s.mark === undefined)).toBe(true);
  });

  test("a switch waits for the new rung's keyframe, and the old rung sends whole pictures up to it (new rung in step, behind, ahead)", () => {
    for (const [from, to, lag] of [[0, 2, 0], [0, 2, 2], [2, 0, 2]] as const) {
      const select = new LadderSelect(3, from);
      const sent = run(select, capture(3, 0, 89, { lag }), (i) => {
        if (i === 40) select.target = to; // around picture 13: the next keyframe is 30
      });
      const switchAt = sent.findIndex((s) => s.mark === "switch");
      expect(sent[switchAt]).toEqual({ rung: to, picture: 30, mark: "switch" });
      // Before it: the old rung, pictures 0..29, each whole (3 packets); after: the new rung from 30 on.
      const before = sent.slice(0, switchAt);
      expect(before.every((s) => s.rung === from)).toBe(true);
      expect(before.map((s) => s.picture)).toEqual(Array.from({ length: 30 * 3 }, (_, i) => Math.floor(i / 3)));
      const after = sent.slice(switchAt);
      expect(after.every((s) => s.rung === to)).toBe(true);
      expect(after.map((s) => s.picture)).toEqual(Array.from({ length: 60 * 3 }, (_, i) => 30 + Math.floor(i / 3)));
      expect(after.filter((s) => s.mark !== undefined).length).toBe(1);
      expect(select.current).toBe(to);
      expect(select.counters.switches).toBe(1);
    }
  });

  test("retargeting to the current rung before the keyframe cancels the switch", () => {
    const select = new LadderSelect(2);
    const sent = run(select, capture(2, 0, 59), (i) => {
      if (i === 10) select.target = 1;
      if (i === 20) select.target = 0;
    });
    expect(sent.every((s) => s.rung === 0 && s.mark === undefined)).toBe(true);
    expect(select.counters.switches).toBe(0);
  });

  test("keyframes only: P pictures dropped and counted, each keyframe after a drop marked resume; leaving waits for a keyframe", () => {
    const select = new LadderSelect(1);
    const sent = run(select, capture(1, 0, 99), (i) => {
      if (i === 5 * 3) select.keyframesOnly = true; // from picture 5
      if (i === 65 * 3) select.keyframesOnly = false; // at picture 65: resumes at 90
    });
    const pictures = [...new Set(sent.map((s) => s.picture))];
    expect(pictures).toEqual([0, 1, 2, 3, 4, 30, 60, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99]);
    expect(sent.filter((s) => s.mark === "resume").map((s) => s.picture)).toEqual([30, 60, 90]);
    expect(select.counters.picturesDropped).toBe(100 - pictures.length);
    expect(select.counters.packetsDropped).toBe((100 - pictures.length) * 3);
  });

  test("keyframes only with access unit delimiters first (as x264enc writes them): keyframes still go out", () => {
    const select = new LadderSelect(1);
    select.keyframesOnly = true;
    const packets = Array.from({ length: 90 }, (_, n) => [pkt(0, n, 0, false, true), ...[0, 1].map((part) => pkt(0, n, part, n % 30 === 0))]).flat();
    const sent = run(select, packets);
    expect([...new Set(sent.map((s) => s.picture))]).toEqual([0, 30, 60]);
    expect(sent.length).toBe(3 * 2); // each keyframe's two slices; the delimiters before them dropped
    // Every sent keyframe follows dropped packets (its own delimiter at least): each closes the gap.
    expect(sent.filter((s) => s.mark === "resume").map((s) => s.picture)).toEqual([0, 30, 60]);
    expect(select.counters.picturesDropped).toBe(87);
  });

  test("an old rung that stops (its encoder stalled) does not hold the switch forever", () => {
    const select = new LadderSelect(2);
    // Only rung 1 flows from picture 30 on.
    const packets = [...capture(2, 0, 29), ...capture(2, 30, 400).filter((p) => rungOf(p) === 1)];
    const sent = run(select, packets, (i) => {
      if (i === 30) select.target = 1;
    });
    expect(select.current).toBe(1);
    expect(sent.find((s) => s.mark === "switch")).toEqual({ rung: 1, picture: 30, mark: "switch" });
  });

  test("refuses a rung outside the ladder", () => {
    expect(() => new LadderSelect(0)).toThrow(RangeError);
    expect(() => {
      new LadderSelect(3).target = 3;
    }).toThrow(/rung 3 is not in 0..2/);
  });
});
