// SensorFlow: the nine steps as one state machine, driven with a fake clock and fake ports.
import { describe, expect, test } from "bun:test";
import type { DataflowMetadataInput, Registration } from "../../shared/mod.ts";
import { type FlowState, SensorFlow } from "../../agent/flow.ts";
import type { CapturePort, FlowPorts, PushEvents } from "../../agent/flow_ports.ts";
import { CaptureSupervisor } from "../../agent/capture/capture_supervisor.ts";
import { locationFix } from "../../agent/location/location_fix.ts";
import { createLogger } from "../../agent/log.ts";
import { DataflowGoneError, RegistrationHttpError } from "../../agent/registration/registration_client.ts";
import { FakeClock, settle } from "./fake_clock.ts";
import { fakeSpawn } from "./fake_gst.ts";

const FIX = locationFix({ lat: 43.295778, lon: -1.980823 });
const FAR = locationFix({ lat: 40.7128, lon: -74.006 });

function registration(id: number, send = false): Registration {
  return { id, topic: "video", routingKey: `video.h264.${id}`, send, keepaliveSeconds: 5, ingest: { whipUrl: `http://mec/whip/${id}`, token: "t" }, udpForward: null };
}

/** Fake ports that record every call, with knobs to make them fail. */
function harness(options: {
  registerFailures?: number; discoverFailures?: number; sendOnRegister?: boolean; ttlSeconds?: number; capture?: CapturePort;
  /** `send` of a registration answer by registration URL; else `sendOnRegister`. */
  sendAt?: Record<string, boolean>;
  /** The settled fix (hysteresis); absent: no settledFix port. */
  settled?: () => typeof FIX;
} = {}) {
  const clock = new FakeClock();
  const calls: string[] = [];
  const lines: string[] = [];
  let nextId = 1;
  let fix = FIX;
  let registerFailures = options.registerFailures ?? 0;
  let discoverFailures = options.discoverFailures ?? 0;
  const keepaliveAnswers: Array<boolean | "gone" | "down"> = [];
  /** Replay floors the flow handed to its control channel (keep-alive answers' controlSeq). */
  const floors: number[] = [];
  let controlSeq = 1000;
  let keepaliveGate = { promise: Promise.resolve(), open: () => {} };
  let onSend: ((send: boolean) => void) | undefined;
  let onSubscribed: (() => void) | undefined;
  const pushes: PushEvents[] = [];
  const ports: FlowPorts = {
    clock,
    log: createLogger({}, (line) => lines.push(line)),
    locate: () => Promise.resolve(FIX),
    currentFix: () => fix,
    discover: (f) => {
      calls.push(`discover ${f.tile.slice(0, 4)}`);
      if (f.tile.startsWith("0320") && discoverFailures-- > 0) return Promise.reject(new Error("discovery down"));
      const mec = f.tile.startsWith("0313") ? "http://mec" : "http://mec-ny";
      return Promise.resolve({ registrationUrl: mec, mqttUrls: ["mqtt://mec"] });
    },
    registry: (endpoints) => ({
      register: () => {
        calls.push(`register ${endpoints.registrationUrl}`);
        if (registerFailures-- > 0) return Promise.reject(new RegistrationHttpError("POST failed"));
        return Promise.resolve(registration(nextId++, options.sendAt?.[endpoints.registrationUrl] ?? options.sendOnRegister ?? false));
      },
      keepalive: async (id: number, metadata?: DataflowMetadataInput) => {
        calls.push(`keepalive ${id}${metadata ? " with metadata" : ""}`);
        const answer = keepaliveAnswers.shift() ?? false;
        await keepaliveGate.promise;
        if (answer === "gone") return Promise.reject(new DataflowGoneError("gone"));
        if (answer === "down") return Promise.reject(new RegistrationHttpError("PUT failed"));
        return Promise.resolve({ id, send: answer, controlSeq: ++controlSeq });
      },
      remove: (id: number) => {
        calls.push(`remove ${id} ${endpoints.registrationUrl}`);
        return Promise.resolve();
      },
    }),
    metadata: (f) => ({ dataSourceInfo: { sourceLocationInfo: { locationQuadkey: f.tile } } }) as unknown as DataflowMetadataInput,
    openControl: (reg, _e, handlers) => {
      calls.push(`mqtt open ${reg.id}`);
      onSend = handlers.onSend;
      onSubscribed = handlers.onSubscribed;
      return {
        raiseFloor: (seq) => void floors.push(seq),
        announce: (kind, reason) => {
          calls.push(`announce ${kind}${reason ? ` (${reason})` : ""}`);
          return Promise.resolve(true);
        },
        close: () => {
          calls.push("mqtt close");
          return Promise.resolve();
        },
      };
    },
    capture: {
      start: () => {
        calls.push("capture start");
        options.capture?.start();
      },
      stop: async () => {
        calls.push("capture stop");
        await options.capture?.stop();
      },
    },
    openPush: (reg, _e, events, pushOptions) => {
      calls.push(`whip post ${reg.id}${pushOptions?.fromKeyframe ? " from a keyframe" : ""}`);
      pushes.push(events);
      return {
        close: () => {
          calls.push("whip delete");
          return Promise.resolve();
        },
      };
    },
  };
  if (options.settled) ports.settledFix = options.settled;
  const states: FlowState[] = [];
  const flow = new SensorFlow(ports, { ttlSeconds: options.ttlSeconds ?? 0, keepRegistration: false, onState: (s) => states.push(s) });
  return {
    clock, calls, lines, states, flow, keepaliveAnswers, pushes, floors,
    control: (send: boolean) => onSend!(send),
    subscribed: () => onSubscribed!(),
    move: (to: typeof FIX) => (fix = to),
    holdKeepalives: () => {
      let open!: () => void;
      keepaliveGate = { promise: new Promise<void>((r) => (open = r)), open: () => open() };
      return () => keepaliveGate.open();
    },
    transitions: () => lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "state changed").map((l) => l.to),
  };
}

describe("SensorFlow", () => {
  test("registers, stays idle without demand, keeps alive every keepaliveSeconds", async () => {
    const h = harness();
    void h.flow.run();
    await h.clock.advance(0);
    expect(h.flow.state).toBe("idle");
    expect(h.calls).toEqual(["discover 0313", "register http://mec", "mqtt open 1"]);
    await h.clock.advance(5000);
    await h.clock.advance(5000);
    expect(h.calls.filter((c) => c.startsWith("keepalive"))).toEqual(["keepalive 1", "keepalive 1"]);
    expect(h.calls).not.toContain("capture start");
    expect(h.transitions()).toEqual(["locating", "discovering", "registering", "idle"]);
  });

  test("MQTT control send:true starts at once: announce, capture, WHIP; connected → streaming", async () => {
    const h = harness();
    void h.flow.run();
    await h.clock.advance(0);
    h.control(true);
    await settle();
    expect(h.flow.state).toBe("starting");
    expect(h.calls.slice(3)).toEqual(["announce new", "capture start", "whip post 1"]);
    h.pushes[0]!.connected();
    await settle();
    expect(h.flow.state).toBe("streaming");
  });

  test("a (re)subscription to control/{id} asks for a keep-alive at once (demand may have changed unheard)", async () => {
    const h = harness();
    void h.flow.run();
    await h.clock.advance(0);
    h.keepaliveAnswers.push(true);
    h.subscribed();
    await settle();
    expect(h.calls).toContain("keepalive 1");
    expect(h.flow.state).toBe("starting");
  });

  test("each keep-alive answer's controlSeq raises the control channel's replay floor", async () => {
    const h = harness();
    void h.flow.run();
    await h.clock.advance(0);
    await h.clock.advance(5000);
    await h.clock.advance(5000);
    expect(h.floors).toEqual([1001, 1002]);
  });

  test("re-subscribed after an MQTT outage while streaming: newdataflow again (the last will may have gone out); not when idle", async () => {
    const h = harness();
    void h.flow.run();
    await h.clock.advance(0);
    h.subscribed(); // the first subscription: idle, nothing to announce
    await settle();
    h.subscribed(); // an outage while idle: still nothing
    await settle();
    expect(h.calls.filter((c) => c.startsWith("announce"))).toEqual([]);
    h.control(true);
    await settle();
    expect(h.calls.filter((c) => c.startsWith("announce"))).toEqual(["announce new"]);
    h.keepaliveAnswers.push(true); // the keep-alive it asks for says the demand is still there
    h.subscribed(); // back after an outage while streaming
    await settle();
    expect(h.calls.filter((c) => c.startsWith("announce"))).toEqual(["announce new", "announce new"]);
  });

  test("a keep-alive answer sent before a newer control message does not undo it", async () => {
    const h = harness();
    void h.flow.run();
    await h.clock.advance(0);
    const release = h.holdKeepalives();
    h.keepaliveAnswers.push(false);
    await h.clock.advance(5000); // keep-alive on its way, answer will say send:false
    h.control(true); // demand arrives meanwhile
    await settle();
    release();
    await settle();
    expect(h.flow.state).toBe("starting");
    expect(h.calls).not.toContain("capture stop");
  });

  test("keep-alive answer send:true starts streaming when MQTT is silent", async () => {
    const h = harness();
    void h.flow.run();
    await h.clock.advance(0);
    h.keepaliveAnswers.push(true);
    await h.clock.advance(5000);
    expect(h.flow.state).toBe("starting");
  });

  test("send:false stops: terminatedataflow, WHIP DELETE, child stopped, back to idle", async () => {
    const h = harness({ sendOnRegister: true });
    void h.flow.run();
    await h.clock.advance(0);
    h.pushes[0]!.connected();
    await settle();
    h.control(false);
    await settle();
    expect(h.flow.state).toBe("idle");
    const tail = h.calls.slice(h.calls.indexOf("whip post 1") + 1);
    expect(tail).toEqual(["announce terminate (send false (control message))", "whip delete", "capture stop"]);
  });

  test("a failed WHIP session is replaced within 2 s; repeated failures (409) keep retrying", async () => {
    const h = harness({ sendOnRegister: true });
    void h.flow.run();
    await h.clock.advance(0);
    h.keepaliveAnswers.push(...Array(10).fill(true));
    for (let i = 0; i < 6; i++) {
      h.pushes.at(-1)!.failed(new Error("409 session still live"));
      await settle();
      expect(h.flow.state).toBe("reconnecting");
      await h.clock.advance(2000);
      expect(h.pushes.length).toBe(i + 2);
    }
    h.pushes.at(-1)!.connected();
    await settle();
    expect(h.flow.state).toBe("streaming");
    expect(h.calls.filter((c) => c === "capture start").length).toBe(1);
  });

  test("keep-alive 404 → stops streaming and registers again under a new id", async () => {
    const h = harness({ sendOnRegister: true });
    void h.flow.run();
    await h.clock.advance(0);
    h.pushes[0]!.connected();
    h.keepaliveAnswers.push("gone");
    await h.clock.advance(5000);
    await settle();
    expect(h.calls).toContain("mqtt open 2");
    expect(h.flow.dataflowId).toBe(2);
    expect(h.calls).toContain("whip post 2");
  });

  test("moving within the MEC's area sends the new location with the next keep-alive, once", async () => {
    const h = harness();
    void h.flow.run();
    await h.clock.advance(5000);
    h.move(locationFix({ lat: 43.3, lon: -1.99 }));
    await h.clock.advance(10_000);
    expect(h.calls.filter((c) => c.startsWith("keepalive"))).toEqual(["keepalive 1", "keepalive 1 with metadata", "keepalive 1"]);
    expect(h.flow.dataflowId).toBe(1);
  });

  test("moving to a tile served by another MEC while streaming hands over make-before-break: the old push ends only once the new one is receiving", async () => {
    const h = harness({ sendOnRegister: true });
    h.keepaliveAnswers.push(...Array(10).fill(true));
    void h.flow.run();
    await h.clock.advance(0);
    h.pushes[0]!.connected();
    await h.clock.advance(5000);
    expect(h.calls.filter((c) => c.startsWith("discover")).length).toBe(1); // same tile: no discovery
    h.move(FAR);
    await h.clock.advance(5000);
    const tail = () => h.calls.slice(h.calls.indexOf("discover 0320")).filter((c) => !c.startsWith("keepalive 1"));
    expect(h.calls).toContain("keepalive 1 with metadata"); // the old MEC's keep-alives go on meanwhile
    // Joined the new MEC beside the old one: registered, announced, pushing from a keyframe on.
    expect(tail()).toEqual(["discover 0320", "register http://mec-ny", "mqtt open 2", "announce new", "whip post 2 from a keyframe"]);
    h.pushes[1]!.connected();
    await h.clock.advance(3000); // connected, but no keyframe sent yet: both stay
    expect(h.calls).not.toContain("whip delete");
    expect(h.flow.dataflowId).toBe(1);
    h.pushes[1]!.receiving!();
    await h.clock.advance(499);
    expect(h.calls).not.toContain("whip delete"); // overlap: the new MEC's first frames are on their way
    await h.clock.advance(1);
    expect(tail().slice(5)).toEqual(["announce terminate (moved to another MEC)", "whip delete", "mqtt close", "remove 1 http://mec"]);
    expect(h.calls).not.toContain("capture stop"); // one capture fed both pushes
    expect(h.calls.filter((c) => c === "capture start").length).toBe(1);
    expect(h.flow.dataflowId).toBe(2);
    expect(h.flow.state).toBe("streaming");
    await h.clock.advance(5000);
    expect(h.calls.filter((c) => c.startsWith("keepalive")).at(-1)).toBe("keepalive 2");
    // The adopted push's failure is the flow's now: a new WHIP session at the new MEC.
    h.pushes[1]!.failed(new Error("ice failed"));
    await h.clock.advance(2000);
    expect(h.calls.at(-1)).toBe("whip post 2");
  });

  test("handover with no demand at the new MEC: register there, end the old stream and registration; nothing overlaps", async () => {
    const h = harness({ sendAt: { "http://mec": true, "http://mec-ny": false } });
    h.keepaliveAnswers.push(true);
    void h.flow.run();
    await h.clock.advance(0);
    h.pushes[0]!.connected();
    h.move(FAR);
    await h.clock.advance(5000);
    const tail = h.calls.slice(h.calls.indexOf("discover 0320")).filter((c) => !c.startsWith("keepalive 1"));
    expect(tail).toEqual([
      "discover 0320", "register http://mec-ny", "mqtt open 2",
      "announce terminate (moved to another MEC)", "whip delete", "capture stop", "mqtt close", "remove 1 http://mec",
    ]);
    expect(h.flow.dataflowId).toBe(2);
    expect(h.flow.state).toBe("idle");
    h.control(true); // demand at the new MEC later: streams there as usual
    await settle();
    expect(h.calls.slice(-3)).toEqual(["announce new", "capture start", "whip post 2"]);
  });

  test("the new MEC's push never receives: after 10 s the handover goes on without overlap and streams at the new MEC", async () => {
    const h = harness({ sendOnRegister: true });
    h.keepaliveAnswers.push(...Array(10).fill(true));
    void h.flow.run();
    await h.clock.advance(0);
    h.pushes[0]!.connected();
    h.move(FAR);
    await h.clock.advance(5000);
    expect(h.calls).toContain("whip post 2 from a keyframe");
    await h.clock.advance(9_999);
    expect(h.flow.dataflowId).toBe(1);
    await h.clock.advance(1);
    const tail = h.calls.slice(h.calls.indexOf("whip post 2 from a keyframe") + 1).filter((c) => !c.startsWith("keepalive"));
    expect(tail.slice(0, 6)).toEqual(["whip delete", "announce terminate (moved to another MEC)", "whip delete", "capture stop", "mqtt close", "remove 1 http://mec"]);
    expect(tail.slice(-3)).toEqual(["announce new", "capture start", "whip post 2"]);
    expect(h.flow.dataflowId).toBe(2);
  });

  test("a tile that has not settled (hysteresis) is not a move: no discovery, no handover", async () => {
    let settled = FIX;
    const h = harness({ sendOnRegister: true, settled: () => settled });
    h.keepaliveAnswers.push(...Array(10).fill(true));
    void h.flow.run();
    await h.clock.advance(0);
    h.move(FAR); // the latest fix is elsewhere, the settled one is not
    await h.clock.advance(10_000);
    expect(h.calls.filter((c) => c.startsWith("discover"))).toEqual(["discover 0313"]);
    settled = FAR;
    await h.clock.advance(5000);
    expect(h.calls).toContain("register http://mec-ny");
  });

  test("discovery down when the vehicle moves: the next keep-alive asks again and hands over", async () => {
    const h = harness({ sendOnRegister: true, discoverFailures: 1 });
    h.keepaliveAnswers.push(...Array(10).fill(true));
    void h.flow.run();
    await h.clock.advance(0);
    h.pushes[0]!.connected();
    h.move(FAR);
    await h.clock.advance(5000);
    expect(h.calls.filter((c) => c === "discover 0320").length).toBe(1);
    expect(h.flow.dataflowId).toBe(1); // still at the old MEC, keep-alive sent
    await h.clock.advance(5000);
    expect(h.calls.filter((c) => c === "discover 0320").length).toBe(2);
    expect(h.calls).toContain("register http://mec-ny");
    h.pushes[1]!.receiving!();
    await h.clock.advance(500);
    expect(h.flow.dataflowId).toBe(2);
  });

  test("registration API down at start → retried with backoff, never gives up", async () => {
    const h = harness({ registerFailures: 4 });
    void h.flow.run();
    await h.clock.advance(0);
    expect(h.flow.state).toBe("registering");
    await h.clock.advance(60_000);
    expect(h.calls.filter((c) => c === "register http://mec").length).toBe(5);
    expect(h.flow.state).toBe("idle");
  });

  test("keep-alive failures keep the stream going", async () => {
    const h = harness({ sendOnRegister: true });
    void h.flow.run();
    await h.clock.advance(0);
    h.pushes[0]!.connected();
    h.keepaliveAnswers.push("down", "down", true);
    await h.clock.advance(15_000);
    expect(h.flow.state).toBe("streaming");
    expect(h.calls.filter((c) => c.startsWith("keepalive")).length).toBe(3);
  });

  test("shutdown while streaming: terminate, WHIP DELETE, child stopped, registration deleted", async () => {
    const h = harness({ sendOnRegister: true });
    const done = h.flow.run();
    await h.clock.advance(0);
    h.pushes[0]!.connected();
    await settle();
    await h.flow.shutdown("SIGTERM");
    await done;
    expect(h.flow.state).toBe("stopped");
    expect(h.calls.slice(-5)).toEqual(["announce terminate (SIGTERM)", "whip delete", "capture stop", "mqtt close", "remove 1 http://mec"]);
    expect(h.clock.pending).toBe(0);
  });

  test("shutdown during a handover's overlap undoes the new MEC too: its push and registration end, then the old ones", async () => {
    const h = harness({ sendOnRegister: true });
    h.keepaliveAnswers.push(...Array(10).fill(true));
    const done = h.flow.run();
    await h.clock.advance(0);
    h.pushes[0]!.connected();
    h.move(FAR);
    await h.clock.advance(5000);
    h.pushes[1]!.receiving!();
    await settle();
    const stopped = h.flow.shutdown("SIGTERM");
    await h.clock.advance(500);
    await stopped;
    await done;
    expect(h.flow.state).toBe("stopped");
    const tail = h.calls.slice(h.calls.indexOf("whip post 2 from a keyframe") + 1).filter((c) => !c.startsWith("keepalive"));
    expect(tail).toEqual([
      "announce terminate (SIGTERM)", "whip delete", "capture stop", // the old MEC's session (the chain's first)
      "whip delete", "mqtt close", "remove 2 http://mec-ny", // the new MEC, undone
      "mqtt close", "remove 1 http://mec",
    ]);
    expect(h.flow.dataflowId).toBe(1);
  });

  test("shutdown while the API is down ends the retry loop at once", async () => {
    const h = harness({ registerFailures: 100 });
    const done = h.flow.run();
    await h.clock.advance(3000);
    await h.flow.shutdown("SIGINT");
    await done;
    expect(h.flow.state).toBe("stopped");
    expect(h.calls.some((c) => c.startsWith("remove"))).toBe(false);
  });

  test("--ttl elapsed ends the session like a signal", async () => {
    const h = harness({ sendOnRegister: true, ttlSeconds: 12 });
    h.keepaliveAnswers.push(true, true, true);
    const done = h.flow.run();
    await h.clock.advance(0);
    h.pushes[0]!.connected();
    await h.clock.advance(11_000);
    expect(h.flow.state).toBe("streaming");
    await h.clock.advance(1000);
    await done;
    expect(h.flow.state).toBe("stopped");
    expect(h.calls).toContain("announce terminate (ttl elapsed)");
    expect(h.calls.at(-1)).toBe("remove 1 http://mec");
  });

  test("a file source that ends (no --loop) ends the session like --ttl, with one \"source ended\" line", async () => {
    const gst = fakeSpawn();
    const lines: string[] = [];
    const capture = new CaptureSupervisor({
      command: "gst-launch-1.0",
      argv: [],
      log: createLogger({}, (line) => lines.push(line)),
      createReader: () => ({ push: () => {} }),
      onPacket: () => {},
      clock: new FakeClock(),
      spawn: gst.spawn,
    });
    const h = harness({ sendOnRegister: true, capture });
    capture.endOnCleanExit(() => void h.flow.shutdown("source ended")); // as agent/main.ts wires it
    const done = h.flow.run();
    await h.clock.advance(0);
    h.pushes[0]!.connected();
    await settle();
    gst.children[0]!.exit(0); // EOS at the end of the file
    await done;
    expect(h.flow.state).toBe("stopped");
    expect(h.calls.slice(-5)).toEqual(["announce terminate (source ended)", "whip delete", "capture stop", "mqtt close", "remove 1 http://mec"]);
    expect(gst.children.length).toBe(1);
    expect(lines.filter((l) => l.includes("source ended")).length).toBe(1);
  });
});
