// The three sides of the loss test (tests/e2e/media_loss_test.ts), each run in its own network
// namespace with `ip netns exec`; one JSON line per 250 ms on stdout.
//   bun media_loss_peer.ts proxy PUBLIC_ADDR ICE_ADDR ICE_PORTS OUT   a private RabbitMQ + `bun proxy/main.ts`
//       (media announced at ICE_ADDR), a registered dataflow (first line: its whipUrl and token),
//       an AMQP consumer of its frames (bodies written to OUT on SIGINT)
//   bun media_loss_peer.ts relay LISTEN_ADDR PORTS TARGET_ADDR LOSS   UDP relay that drops LOSS % each way
//   bun media_loss_peer.ts sender WHIP_URL TOKEN ADDR                 gst x264 → WhipPublisher from ADDR
import { writeFileSync } from "node:fs";
import amqp from "amqplib";
import { createLogger } from "../../agent/log.ts";
import { readRtpStream } from "../../agent/push/rtp_stream_reader.ts";
import { WhipPublisher } from "../../agent/push/whip_publisher.ts";
import { HEADER, ROUTE, VIDEO_EXCHANGE, videoRoutingKey } from "../../shared/mod.ts";
import { agentBody } from "../proxy/sensor_body.ts";
import { gstRtpArgv } from "./whip_harness.ts";
import { metric } from "./media_harness.ts";
import { exitOnSignal, startNetnsProxy } from "./netns_proxy.ts";
import { datagramKind, udpRelay } from "./udp_relay.ts";

const [role, ...rest] = process.argv.slice(2);

async function proxyRole(publicAddr: string, iceAddr: string, icePorts: string, out: string): Promise<void> {
  const { base, amqpUrl } = await startNetnsProxy(publicAddr, iceAddr, { icePorts });
  const reg = await (await fetch(`${base}${ROUTE.dataflows}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(agentBody()) })).json();
  const model = await amqp.connect(amqpUrl);
  const channel = await model.createChannel();
  const q = await channel.assertQueue("", { exclusive: true });
  await channel.bindQueue(q.queue, VIDEO_EXCHANGE, videoRoutingKey("h264", reg.id));
  const bodies: Buffer[] = [];
  const timestamps: number[] = [];
  // seq counts every frame the proxy saw, so a jump is a frame it dropped: seqOk means the
  // numbers start at 0, only grow, and every frame after a jump is a keyframe (decodable).
  const stats = { frames: 0, seqOk: true, seqMissing: 0, keyframeFirst: undefined as boolean | undefined, nacks: 0, lost: 0, recovered: 0 };
  let lastSeq = -1;
  await channel.consume(q.queue, (m) => {
    if (!m) return;
    const h = m.properties.headers ?? {};
    const seq = Number(h[HEADER.seq]);
    stats.keyframeFirst ??= h[HEADER.keyframe] === true;
    if (seq <= lastSeq || (seq !== lastSeq + 1 && h[HEADER.keyframe] !== true)) stats.seqOk = false;
    stats.seqMissing += Math.max(0, seq - lastSeq - 1);
    lastSeq = seq;
    stats.frames++;
    timestamps.push(Number(h[HEADER.rtpTimestamp]));
    bodies.push(m.content);
  }, { noAck: true });
  console.log(JSON.stringify({ whipUrl: reg.ingest.whipUrl, token: reg.ingest.token }));
  const poll = setInterval(async () => {
    // The proxy goes first at SIGINT: a failed scrape must not kill this process mid-cleanup
    // (its RabbitMQ's epmd would be left running).
    const text = await fetch(`${base}${ROUTE.metrics}`).then((r) => r.text()).catch(() => undefined);
    if (text === undefined) return;
    stats.nacks = metric(text, "vsb_whip_nacked_seqs_total") ?? 0;
    stats.lost = metric(text, "vsb_rtp_packets_lost_total") ?? 0;
    stats.recovered = metric(text, "vsb_rtp_packets_recovered_total") ?? 0;
    // Where else packets or frames went, for a run that falls short.
    (stats as Record<string, unknown>).drops = text.split("\n").filter((l) => /^vsb_(rtp_packets_dropped|frames_dropped)_total\{.*\} [1-9]/.test(l));
    console.log(JSON.stringify(stats));
  }, 250);
  exitOnSignal(() => {
    clearInterval(poll);
    writeFileSync(out, Buffer.concat(bodies));
    writeFileSync(`${out}.json`, JSON.stringify(timestamps));
    return model.close();
  });
}

/**
 * Relays UDP `listen:port` ⇄ `target:port` for each port, dropping `loss` % of the RTP/RTCP
 * datagrams each way. STUN and DTLS (told apart by their first byte, RFC 7983 §7) pass: werift's
 * DTLS does not recover every lost handshake flight, and the point here is media recovery.
 */
async function relayRole(listen: string, ports: string, target: string, loss: number): Promise<void> {
  const dropped = { up: 0, down: 0, passed: 0 };
  const lose = (msg: Buffer) => datagramKind(msg) === "rtp" && Math.random() * 100 < loss;
  const pass = (msg: Buffer, forward: () => void, way: "up" | "down") => {
    if (lose(msg)) return void dropped[way]++;
    dropped.passed++;
    forward();
  };
  await udpRelay({
    listen, target, ports: ports.split(",").map(Number),
    up: (msg, forward) => pass(msg, forward, "up"),
    down: (msg, forward) => pass(msg, forward, "down"),
  });
  setInterval(() => console.log(JSON.stringify(dropped)), 250);
}

async function senderRole(url: string, token: string, addr: string): Promise<void> {
  const pub = new WhipPublisher({ url, token, interfaceAddresses: [addr], log: createLogger({}, () => {}) });
  const [command, ...args] = gstRtpArgv({ bitrate: 1500, width: 640, height: 480 });
  const gst = Bun.spawn([command!, ...args], { stdout: "pipe", stderr: "ignore" });
  const pictures = new Set<number>();
  let stopping = false;
  // On SIGINT no new picture goes out, but the session stays up 1 s to answer the NACKs for
  // the last ones (a real sender's tail is recovered the same way; a vanished one's is not).
  process.on("SIGINT", () => {
    if (stopping) return;
    stopping = true;
    gst.kill("SIGINT");
    setTimeout(() => {
      console.log(JSON.stringify({ timestamps: [...pictures] }));
      void pub.close().finally(() => process.exit(0));
    }, 1000);
  });
  void readRtpStream(gst.stdout, (p) => {
    if (stopping) return;
    if (pub.state === "connected") pictures.add(new DataView(p.buffer, p.byteOffset).getUint32(4));
    pub.sendRtp(p);
  });
  await pub.start();
  setInterval(() => console.log(JSON.stringify({ state: pub.state, pictures: pictures.size, nacks: pub.counters.nacks, counters: pub.counters })), 250);
}

if (role === "proxy") await proxyRole(rest[0]!, rest[1]!, rest[2]!, rest[3]!);
else if (role === "relay") await relayRole(rest[0]!, rest[1]!, rest[2]!, Number(rest[3]));
else if (role === "sender") await senderRole(rest[0]!, rest[1]!, rest[2]!);
