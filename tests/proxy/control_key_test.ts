// The per-dataflow control key on the proxy: handed out once in the registration answer, kept
// in the store across a restart, never shown by GET /dataflows or a keep-alive, and the one the
// announcer signs with (checked by the agent's verifier), in memory with a fake clock.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ControlVerifier } from "../../agent/control/control_verifier.ts";
import { Announcer, amqpUserOf } from "../../proxy/bus/announcer.ts";
import { ControlSigner } from "../../proxy/registry/control_signer.ts";
import type { OutMessage } from "../../proxy/bus/lane.ts";
import type { Publisher } from "../../proxy/bus/publisher.ts";
import { DataflowMetadataSchema, DemandRequestSchema, RegistrationSchema } from "../../shared/mod.ts";
import { FakeClock } from "./fake_clock.ts";
import { harness } from "./harness.ts";
import { sensor2022 } from "./sensor_body.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A publisher that keeps what it is given. */
function fakePublisher() {
  const sent: OutMessage[] = [];
  const publisher = { lane: () => ({}), publish: (_lane: unknown, msg: OutMessage) => void sent.push(msg) };
  return { publisher: publisher as unknown as Publisher, sent };
}

describe("control key", () => {
  test("POST /dataflows answers control.key (32 bytes); GET and keep-alive never show it", async () => {
    const { json } = await harness();
    const answer = RegistrationSchema.parse(await (await json("POST", "/dataflows", sensor2022())).json());
    expect(Buffer.from(answer.control!.key, "base64url").length).toBe(32);
    const second = RegistrationSchema.parse(await (await json("POST", "/dataflows", sensor2022())).json());
    expect(second.control!.key).not.toBe(answer.control!.key);
    for (const path of ["/dataflows", `/dataflows/${answer.id}`]) {
      expect(await (await json("GET", path)).text()).not.toContain(answer.control!.key);
    }
    expect(await (await json("PUT", `/dataflows/${answer.id}`)).text()).not.toContain(answer.control!.key);
  });

  test("the key survives a proxy restart (store), so control after the restart still verifies", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vsb-control-key-"));
    dirs.push(dir);
    const db = join(dir, "proxy.db");
    const clock = new FakeClock();
    const first = await harness({ db, clock });
    const reg = await first.registry.register(DataflowMetadataSchema.parse(sensor2022()));
    await first.registry.stop();
    first.store.close();
    const second = await harness({ db, clock });
    expect(second.registry.controlKeyOf(reg.id)).toBe(reg.control!.key);
    await second.registry.remove(reg.id);
    expect(second.registry.controlKeyOf(reg.id)).toBe(reg.control!.key); // ended: its last send:false is signed too
    second.store.close();
  });

  test("`Announcer.follow()` signs every send change with the dataflow's key and stamps the user-id", async () => {
    const { registry } = await harness();
    const { publisher, sent } = fakePublisher();
    const announcer = new Announcer(publisher, { userId: "vsb-proxy", signer: new ControlSigner() });
    announcer.follow(registry);
    const reg = await registry.register(DataflowMetadataSchema.parse(sensor2022()));
    const lease = await registry.createDemand(DemandRequestSchema.parse({ dataflowId: reg.id, ttlSeconds: 60 }));
    await registry.deleteDemand(lease.id);
    await registry.remove(reg.id);
    const verifier = new ControlVerifier(reg.id, reg.control!.key);
    const controls = sent.filter((m) => m.routingKey === `control.${reg.id}`);
    expect(controls.map((m) => verifier.check(m.body))).toMatchObject([
      { ok: true, send: false }, { ok: true, send: true }, { ok: true, send: false },
    ]);
    expect(sent.map((m) => m.userId)).toEqual(sent.map(() => "vsb-proxy")); // control and terminatedataflow
  });

  test("registration and keep-alive answers carry a replay floor above every control message signed before them", async () => {
    const { registry } = await harness();
    const { publisher, sent } = fakePublisher();
    // By default both take seqs from ControlSigner.shared (proxy.ts wires one signer the same way).
    new Announcer(publisher).follow(registry);
    const reg = await registry.register(DataflowMetadataSchema.parse(sensor2022()));
    const seqs = () => sent.filter((m) => m.routingKey === `control.${reg.id}`).map((m) => JSON.parse(m.body.toString()).seq as number);
    expect(seqs()).toHaveLength(1); // the send:false of the registration
    expect(reg.control!.seq).toBeGreaterThan(seqs()[0]!);
    const lease = await registry.createDemand(DemandRequestSchema.parse({ dataflowId: reg.id, ttlSeconds: 60 }));
    const answer = await registry.keepalive(reg.id);
    expect(answer.controlSeq!).toBeGreaterThan(Math.max(...seqs()));
    await registry.deleteDemand(lease.id);
    expect(Math.max(...seqs())).toBeGreaterThan(answer.controlSeq!); // a later message is above it
  });

  test("`amqpUserOf()` names the user amqplib logs in as", async () => {
    expect(amqpUserOf("amqp://127.0.0.1:5672")).toBe("guest");
    expect(amqpUserOf("amqps://vsb%2Dproxy:secret@mec:5671/vh")).toBe("vsb-proxy");
    expect(amqpUserOf("amqp://:secret@mec")).toBeUndefined();
  });
});
