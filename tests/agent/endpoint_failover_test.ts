// EndpointFailover: the registration API replica in use, the ones down, and where WHIP goes next.
import { describe, expect, test } from "bun:test";
import type { Registration } from "../../shared/mod.ts";
import type { Endpoints } from "../../agent/discovery/discover_endpoints.ts";
import { EndpointFailover, isUnreachable } from "../../agent/discovery/endpoint_failover.ts";
import { RegistrationHttpError } from "../../agent/registration/registration_client.ts";

const A = "http://10.0.0.1:8080";
const B = "http://10.0.0.2:8080";
const C = "http://10.0.0.3:8080";

function endpoints(urls: string[], extra: Partial<Endpoints> = {}): Endpoints {
  return { registrationUrl: urls[0]!, registrationUrls: urls, videoBrokerUrls: urls, mqttUrls: [], ...extra };
}

function reg(whipUrl: string): Registration {
  return { id: 7, topic: "video", routingKey: "video.h264.7", send: true, keepaliveSeconds: 5, ingest: { whipUrl, token: "t" }, udpForward: null };
}

describe("isUnreachable()", () => {
  test("no answer and 5xx move to another replica; 4xx and other errors do not", () => {
    expect(isUnreachable(new RegistrationHttpError("PUT failed"))).toBe(true);
    expect(isUnreachable(new RegistrationHttpError("PUT answered 503", 503))).toBe(true);
    expect(isUnreachable(new RegistrationHttpError("PUT answered 400", 400))).toBe(false);
    expect(isUnreachable(new RegistrationHttpError("PUT answered 401", 401))).toBe(false);
    expect(isUnreachable(new Error("bug"))).toBe(false);
  });
});

describe("EndpointFailover", () => {
  test("`next()` rotates A → B → C and moves the registration's WHIP URL to the new replica", () => {
    let now = 0;
    const f = new EndpointFailover(() => now);
    const e = endpoints([A, B, C]);
    const b = f.next(e, reg(`${A}/whip/7?x=1`))!;
    expect(b.registrationUrl).toBe(B);
    expect(b.whipUrl).toBe(`${B}/whip/7?x=1`);
    now += 1000;
    const c = f.next(b, reg(`${A}/whip/7?x=1`))!;
    expect([c.registrationUrl, c.whipUrl]).toEqual([C, `${C}/whip/7?x=1`]);
  });

  test("`next()` answers undefined with a single replica, and when every replica is down", () => {
    const f = new EndpointFailover(() => 0);
    expect(f.next(endpoints([A]))).toBeUndefined();
    expect(f.next({ registrationUrl: A, mqttUrls: [] })).toBeUndefined();
    const two = new EndpointFailover(() => 0);
    const b = two.next(endpoints([A, B]))!;
    expect(b.registrationUrl).toBe(B);
    expect(two.next(b)).toBeUndefined();
  });

  test("`choose()` passes over a replica marked down until holdMs passed, then takes it again", () => {
    let now = 0;
    const f = new EndpointFailover(() => now, { holdMs: 10_000 });
    f.next(endpoints([A, B]));
    expect(f.choose(endpoints([A, B])).registrationUrl).toBe(B);
    now = 10_000;
    expect(f.choose(endpoints([A, B])).registrationUrl).toBe(A);
  });

  test("`choose()` with every replica down takes the one marked longest ago", () => {
    let now = 0;
    const f = new EndpointFailover(() => now);
    f.next(endpoints([A, B]));
    now = 100;
    f.next(endpoints([B, A]));
    expect(f.choose(endpoints([A, B])).registrationUrl).toBe(A);
  });

  test("a static --whip-url on another host stays; video brokers pair with registration APIs by position", () => {
    const f = new EndpointFailover(() => 0);
    const fixed = f.next(endpoints([A, B], { whipUrl: "http://whip.example/whip/7" }))!;
    expect(fixed.whipUrl).toBe("http://whip.example/whip/7");
    const g = new EndpointFailover(() => 0);
    const paired = g.next(endpoints([A, B], { videoBrokerUrls: [`${A.replace("8080", "8443")}`, "https://b.example:8443"] }), reg(`${A}/whip/7`))!;
    expect(paired.whipUrl).toBe("https://b.example:8443/whip/7");
  });
});
