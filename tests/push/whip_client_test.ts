import { describe, expect, test } from "bun:test";
import { PublisherEvents } from "../../agent/push/publisher_events.ts";
import { deleteSession, postOffer, WhipHttpError } from "../../agent/push/whip_client.ts";

/** A fetch that answers from `handler` and records the requests. */
function fakeFetch(handler: (req: Request) => Response) {
  const requests: Request[] = [];
  const fn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    requests.push(req);
    return handler(req);
  }) as typeof fetch;
  return { fn, requests };
}

describe("postOffer()", () => {
  test("POSTs application/sdp with the bearer token and resolves a relative Location (RFC 9725 §4.2)", async () => {
    const f = fakeFetch(() => new Response("v=0 answer", { status: 201, headers: { location: "/whip/7/abc" } }));
    const got = await postOffer("http://mec:8080/whip/7", "tok", "v=0 offer", { fetch: f.fn });
    expect(got).toEqual({ answer: "v=0 answer", location: "http://mec:8080/whip/7/abc" });
    const req = f.requests[0]!;
    expect(req.method).toBe("POST");
    expect(req.headers.get("content-type")).toBe("application/sdp");
    expect(req.headers.get("authorization")).toBe("Bearer tok");
    expect(await req.text()).toBe("v=0 offer");
  });

  test("throws WhipHttpError with the status on 409 and on a 201 without Location", async () => {
    const conflict = fakeFetch(() => new Response('{"error":"busy"}', { status: 409 }));
    const error = await postOffer("http://mec/whip/7", "tok", "x", { fetch: conflict.fn }).catch((e) => e);
    expect(error).toBeInstanceOf(WhipHttpError);
    expect(error.status).toBe(409);
    expect(error.message).toContain("busy");
    const noLocation = fakeFetch(() => new Response("answer", { status: 201 }));
    const e2 = await postOffer("http://mec/whip/7", "tok", "x", { fetch: noLocation.fn }).catch((e) => e);
    expect(e2.message).toContain("Location");
  });
});

describe("deleteSession()", () => {
  test("sends DELETE with the token; 404 (already gone) is not an error, 500 is", async () => {
    const gone = fakeFetch(() => new Response(null, { status: 404 }));
    expect(await deleteSession("http://mec/whip/7/abc", "tok", { fetch: gone.fn })).toBe(404);
    expect(gone.requests[0]!.method).toBe("DELETE");
    expect(gone.requests[0]!.headers.get("authorization")).toBe("Bearer tok");
    const broken = fakeFetch(() => new Response("boom", { status: 500 }));
    expect(await deleteSession("http://mec/whip/7/abc", "tok", { fetch: broken.fn }).catch((e) => e.status)).toBe(500);
  });
});

class Emitter extends PublisherEvents {
  reported: string[] = [];
  protected override reportListenerError(event: string, error: unknown): void {
    this.reported.push(`${event}: ${(error as Error).message}`);
  }
  fire(reason: string) {
    this.emit("failed", { reason });
  }
}

describe("PublisherEvents", () => {
  test("on() delivers until removed; once() resolves with the next event; a throwing listener does not stop others", async () => {
    const e = new Emitter();
    const seen: string[] = [];
    const off = e.on("failed", (ev) => seen.push(ev.reason));
    e.on("failed", () => {
      throw new Error("listener bug");
    });
    const next = e.once("failed");
    e.fire("a");
    off();
    e.fire("b");
    expect(seen).toEqual(["a"]);
    expect((await next).reason).toBe("a");
    expect(e.listenerErrors).toBe(2);
    expect(e.reported).toEqual(["failed: listener bug", "failed: listener bug"]);
  });
});
