// keepCandidates() is what both the agent's WHIP offer and the proxy's answers pass through.
import { describe, expect, test } from "bun:test";
import { candidateAddress, keepCandidates } from "../../../shared/runtime/sdp_candidates.ts";

describe("candidateAddress()", () => {
  test("reads the <address> of an a=candidate: line, undefined for other lines", () => {
    expect(candidateAddress("a=candidate:1 1 udp 2122260223 192.168.1.7 54321 typ host")).toBe("192.168.1.7");
    expect(candidateAddress("a=end-of-candidates")).toBeUndefined();
    expect(candidateAddress("c=IN IP4 127.0.0.1")).toBeUndefined();
  });
});

describe("keepCandidates()", () => {
  test("keeps only candidates on the allowed addresses; an empty set keeps all", () => {
    const sdp = "v=0\r\na=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\na=candidate:2 1 udp 1 10.0.0.5 5001 typ host\r\na=end-of-candidates\r\n";
    const out = keepCandidates(sdp, new Set(["127.0.0.1"]));
    expect(out).toMatchObject({ kept: 1, removed: 1 });
    expect(out.sdp).not.toContain("10.0.0.5");
    expect(out.sdp).toContain("a=end-of-candidates");
    expect(keepCandidates(sdp, new Set()).kept).toBe(2);
  });

  test("reads LF-only SDP and writes CRLF", () => {
    const out = keepCandidates("v=0\na=candidate:1 1 udp 1 10.0.0.5 5001 typ host\na=mid:0", new Set(["127.0.0.1"]));
    expect(out).toEqual({ sdp: "v=0\r\na=mid:0", kept: 0, removed: 1 });
  });
});
