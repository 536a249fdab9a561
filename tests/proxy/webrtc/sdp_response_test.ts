// sdpResponses(): the answers WHIP and WHEP share (RFC 9725 §4.2, §4.3.1), with each
// endpoint's own CORS headers and bearer realm; parseResourceId(): the id in their paths.
import { describe, expect, test } from "bun:test";
import { OfferError } from "../../../proxy/webrtc/h264_offer.ts";
import { OfferLimit } from "../../../proxy/webrtc/offer_limit.ts";
import { parseResourceId, sdpResponses } from "../../../proxy/webrtc/sdp_response.ts";

const cors = { "access-control-allow-origin": "*", "access-control-expose-headers": "location" };
const respond = sdpResponses({ cors, realm: "whip" });

function offer(body: string, type = "application/sdp"): Request {
  return new Request("http://proxy/whip/1", { method: "POST", headers: { "content-type": type }, body });
}

describe("sdpResponses()", () => {
  test("answer() is 201 with the SDP, its Location and the endpoint's CORS headers", async () => {
    const res = respond.answer("v=0\r\n", "/whip/1/abc");
    expect(res.status).toBe(201);
    expect(await res.text()).toBe("v=0\r\n");
    expect(Object.fromEntries(res.headers)).toEqual({ ...cors, "content-type": "application/sdp", location: "/whip/1/abc" });
  });

  test("error() is JSON {error, details}; a 401 names the endpoint's realm, extra headers are added", async () => {
    const res = respond.error(401, "missing token");
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="whip"');
    expect(await res.json()).toEqual({ error: "missing token" });
    const busy = sdpResponses({ cors, realm: "vsb-proxy" }).error(503, "not live", { state: "idle" }, { "retry-after": "2" });
    expect(busy.headers.get("retry-after")).toBe("2");
    expect(busy.headers.get("www-authenticate")).toBeNull();
    expect(busy.headers.get("access-control-expose-headers")).toBe("location");
    expect(await busy.json()).toEqual({ error: "not live", details: { state: "idle" } });
  });

  test("readOffer() gives the offer's text, 415 for another content type and 413 over the limit", async () => {
    expect(await respond.readOffer(new OfferLimit(), offer("v=0\r\n", "application/sdp; charset=utf-8"))).toBe("v=0\r\n");
    const wrongType = await respond.readOffer(new OfferLimit(), offer("{}", "application/json"));
    expect(wrongType).toBeInstanceOf(Response);
    expect((wrongType as Response).status).toBe(415);
    expect(await (wrongType as Response).json()).toEqual({ error: 'content type must be "application/sdp", got "application/json"' });
    const limit = new OfferLimit(4);
    const tooLarge = await respond.readOffer(limit, offer("v=0\r\nmore"));
    expect((tooLarge as Response).status).toBe(413);
    expect(limit.tooLarge).toBe(1);
  });

  test("offerFailed() keeps an OfferError's status; anything else is a 400 with its message", async () => {
    const unusable = respond.offerFailed(new OfferError("no H.264 in the offer", 406));
    expect(unusable.status).toBe(406);
    expect(await unusable.json()).toEqual({ error: "unusable SDP offer", details: "no H.264 in the offer" });
    const failed = respond.offerFailed(new Error("DTLS setup failed"));
    expect(failed.status).toBe(400);
    expect(await failed.json()).toEqual({ error: "could not answer the SDP offer", details: "DTLS setup failed" });
  });

  test("noTrickle() is 405 allowing only DELETE", async () => {
    const res = respond.noTrickle();
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("DELETE");
    expect(await res.json()).toEqual({ error: "trickle ICE and ICE restart are not supported; send a new offer" });
  });
});

describe("parseResourceId()", () => {
  test("takes a positive safe integer without leading zeros, refuses the rest", () => {
    expect(parseResourceId("7")).toBe(7);
    expect(parseResourceId("9007199254740991")).toBe(9007199254740991);
    for (const bad of ["0", "07", "-1", "1.5", "x", "", "9007199254740993"]) expect(parseResourceId(bad)).toBeUndefined();
  });
});
