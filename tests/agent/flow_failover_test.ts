// SensorFlow over several registration API replicas (issue #13): when the one in use stops
// answering, the same dataflow is kept alive on the next one, and the WHIP session moves there.
import { describe, expect, test } from "bun:test";
import type { DataflowMetadataInput, Registration } from "../../shared/mod.ts";
import { SensorFlow } from "../../agent/flow.ts";
import type { FlowPorts, PushEvents } from "../../agent/flow_ports.ts";
import { locationFix } from "../../agent/location/location_fix.ts";
import { createLogger } from "../../agent/log.ts";
import { RegistrationHttpError } from "../../agent/registration/registration_client.ts";
import { FakeClock, settle } from "./fake_clock.ts";

const FIX = locationFix({ lat: 43.295778, lon: -1.980823 });
const A = "http://10.0.0.1:8080";
const B = "http://10.0.0.2:8080";

/** Two replicas named by discovery; `down` holds the ones that refuse connections. */
function harness(options: { keepaliveStatus?: number } = {}) {
  const clock = new FakeClock();
  const calls: string[] = [];
  const down = new Set<string>();
  const pushes: { url: string; events: PushEvents }[] = [];
  const refuse = (url: string, what: string) => {
    if (!down.has(url)) return undefined;
    return new RegistrationHttpError(`${what} "${url}" ${options.keepaliveStatus ? `answered ${options.keepaliveStatus}` : "failed"}`, options.keepaliveStatus);
  };
  const registration = (url: string): Registration =>
    ({ id: 1, topic: "video", routingKey: "video.h264.1", send: true, keepaliveSeconds: 5, ingest: { whipUrl: `${url}/whip/1`, token: "t" }, udpForward: null });
  let fix = FIX;
  const ports: FlowPorts = {
    clock,
    log: createLogger({}, (line) => void (process.env.FLOW_LOG && console.error(line))),
    locate: () => Promise.resolve(FIX),
    currentFix: () => fix,
    discover: () => Promise.resolve({ registrationUrl: A, registrationUrls: [A, B], videoBrokerUrls: [A, B], mqttUrls: [] }),
    registry: (e) => ({
      register: () => {
        calls.push(`register ${e.registrationUrl}`);
        const error = refuse(e.registrationUrl, "POST");
        return error ? Promise.reject(error) : Promise.resolve(registration(e.registrationUrl));
      },
      keepalive: (id) => {
        calls.push(`keepalive ${id} ${e.registrationUrl}`);
        const error = refuse(e.registrationUrl, "PUT");
        return error ? Promise.reject(error) : Promise.resolve({ id, send: true });
      },
      remove: () => Promise.resolve(),
    }),
    metadata: (f) => ({ dataSourceInfo: { sourceLocationInfo: { locationQuadkey: f.tile } } }) as unknown as DataflowMetadataInput,
    openControl: () => undefined,
    capture: { start: () => {}, stop: () => Promise.resolve() },
    openPush: (reg, e, events) => {
      const url = e.whipUrl ?? reg.ingest.whipUrl;
      calls.push(`whip post ${url}`);
      pushes.push({ url, events });
      return { close: () => Promise.resolve(void calls.push(`whip delete ${url}`)) };
    },
  };
  const flow = new SensorFlow(ports, { ttlSeconds: 0, keepRegistration: true });
  return { clock, calls, down, pushes, flow, move: (to: typeof FIX) => void (fix = to) };
}

describe("SensorFlow failover", () => {
  test("keep-alive refused by A: the same dataflow is kept alive on B at once and WHIP moves to B", async () => {
    const h = harness();
    void h.flow.run();
    await h.clock.advance(0);
    h.pushes.at(-1)!.events.connected();
    await settle();
    expect(h.flow.state).toBe("streaming");
    expect(h.calls).toEqual(["register http://10.0.0.1:8080", `whip post ${A}/whip/1`]);
    h.down.add(A);
    h.calls.length = 0;
    await h.clock.advance(5000);
    expect(h.calls.filter((c) => c.startsWith("keepalive"))).toEqual([`keepalive 1 ${A}`, `keepalive 1 ${B}`]);
    expect(h.calls).toContain(`whip delete ${A}/whip/1`);
    expect(h.calls).not.toContain(`register ${B}`);
    expect(h.flow.state).toBe("reconnecting");
    await h.clock.advance(2000);
    expect(h.calls).toContain(`whip post ${B}/whip/1`);
    h.pushes.at(-1)!.events.connected();
    await settle();
    expect(h.flow.state).toBe("streaming");
    expect(h.flow.dataflowId).toBe(1);
    // The next keep-alives stay on B.
    h.calls.length = 0;
    await h.clock.advance(5000);
    expect(h.calls).toEqual([`keepalive 1 ${B}`]);
  });

  test("a 503 moves too; a 4xx does not", async () => {
    const h = harness({ keepaliveStatus: 503 });
    void h.flow.run();
    await h.clock.advance(0);
    h.down.add(A);
    await h.clock.advance(5000);
    expect(h.calls).toContain(`keepalive 1 ${B}`);
    const k = harness({ keepaliveStatus: 401 });
    void k.flow.run();
    await k.clock.advance(0);
    k.down.add(A);
    await k.clock.advance(5000);
    expect(k.calls.filter((c) => c.startsWith("keepalive"))).toEqual([`keepalive 1 ${A}`]);
  });

  test("registration refused by A is tried on B at once, without a backoff", async () => {
    const h = harness();
    h.down.add(A);
    void h.flow.run();
    await h.clock.advance(0);
    expect(h.calls.slice(0, 2)).toEqual([`register ${A}`, `register ${B}`]);
    expect(h.flow.state).not.toBe("registering");
  });
  test("after moving to B, a new tile of the same MEC (discovery lists A first again) is not a handover", async () => {
    const h = harness();
    void h.flow.run();
    await h.clock.advance(0);
    h.down.add(A);
    await h.clock.advance(5000);
    expect(h.calls).toContain(`keepalive 1 ${B}`);
    h.calls.length = 0;
    h.move(locationFix({ lat: 43.299, lon: -1.985 }));
    await h.clock.advance(5000);
    expect(h.calls.filter((c) => !c.startsWith("whip"))).toEqual([`keepalive 1 ${B}`]);
  });
});
