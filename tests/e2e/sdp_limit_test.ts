// `--max-sdp-bytes` on the real proxy (real sockets, RabbitMQ): a WHIP or WHEP offer over the
// bound is a JSON 413 from its Content-Length, and a chunked one (no Content-Length to go by)
// is cut off once the bound is passed: the proxy answers 413 while the client is still
// sending, having read only about the bound, not the endless rest. Counted per endpoint.
import { afterAll, describe, expect } from "bun:test";
import { connect } from "node:net";
import { PATH, SDP_CONTENT_TYPE } from "../../shared/mod.ts";
import { skipUnless } from "../support/gst.ts";
import { hasRabbit } from "../support/rabbitmq.ts";
import { type MediaProxy, registerFlow, startMediaProxy } from "./whep_harness.ts";

const it = skipUnless(hasRabbit(), "needs RabbitMQ");
const LIMIT = 8192;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

const sdp = (bytes: number) => `v=0\r\n${"a=x-pad:0123456789abcdef0123456789abcdef\r\n".repeat(Math.ceil(bytes / 42))}`;

/**
 * POSTs an endless chunked body to `path` over a raw socket (backpressure respected) until the
 * proxy's answer is in or `most` bytes were sent; returns the answer and the bytes sent by then.
 */
function chunkedPost(port: number, path: string, headers: Record<string, string>, most = 128 * 1024 * 1024): Promise<{ answer: string; sent: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let sent = 0;
    let answer = "";
    const chunk = Buffer.from(`4000\r\n${"x".repeat(0x4000)}\r\n`);
    const pump = () => {
      while (!answer && sent < most) {
        sent += 0x4000;
        if (!socket.write(chunk)) return void socket.once("drain", pump);
      }
    };
    const done = () => {
      resolve({ answer, sent });
      socket.destroy();
    };
    socket.on("data", (d) => {
      answer += d.toString("latin1");
      if (/\r\n\r\n[\s\S]*\}/.test(answer)) done(); // head and JSON body are in
    });
    socket.on("close", done);
    socket.on("error", (e) => (answer ? done() : reject(e)));
    socket.on("connect", () => {
      const head = Object.entries({ ...headers, host: "127.0.0.1", "content-type": SDP_CONTENT_TYPE, "transfer-encoding": "chunked" })
        .map(([k, v]) => `${k}: ${v}\r\n`).join("");
      socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n`);
      pump();
    });
  });
}

async function oversize(media: MediaProxy, path: string, headers: Record<string, string>) {
  const res = await fetch(`${media.base}${path}`, { method: "POST", headers: { ...headers, "content-type": SDP_CONTENT_TYPE }, body: sdp(LIMIT + 100) });
  return { status: res.status, type: res.headers.get("content-type"), body: await res.json() };
}

describe("--max-sdp-bytes", () => {
  it("WHIP and WHEP offers over the bound are 413, from Content-Length or cut off mid-chunked-stream", async () => {
    const media = await startMediaProxy({ argv: ["--max-sdp-bytes", String(LIMIT)] });
    cleanups.push(() => media.stop());
    const reg = await registerFlow(media);
    const whip = { path: new URL(reg.ingest.whipUrl).pathname, headers: { authorization: `Bearer ${reg.ingest.token}` } };
    const whep = { path: PATH.whep(reg.id), headers: {} };
    for (const { path, headers } of [whip, whep]) {
      const res = await oversize(media, path, headers);
      expect(res).toMatchObject({ status: 413, type: "application/json", body: { error: `SDP offer is over the limit of ${LIMIT} bytes (--max-sdp-bytes)` } });
      const cut = await chunkedPost(media.proxy.server.port, path, headers);
      console.log(JSON.stringify({ path, sent: cut.sent, status: cut.answer.split("\r\n")[0] }));
      expect(cut.answer).toStartWith("HTTP/1.1 413 ");
      // Our answer (not Bun's 1 MiB backstop of --listen, which a full read would run into).
      expect(cut.answer.toLowerCase()).toContain("content-type: application/json");
      expect(cut.answer).toContain(`over the limit of ${LIMIT} bytes (--max-sdp-bytes)`);
      // The bound plus what the sockets' buffers held (4 MiB here), far below the 128 MiB offered.
      expect(cut.sent).toBeLessThan(32 * 1024 * 1024);
      // A small Content-Length beside Transfer-Encoding does not count (RFC 9112 §6.3): still cut off.
      const smuggled = await chunkedPost(media.proxy.server.port, path, { ...headers, "content-length": "100" });
      console.log(JSON.stringify({ path, smuggled: smuggled.sent, status: smuggled.answer.split("\r\n")[0] }));
      expect(smuggled.answer).toMatch(/^HTTP\/1\.1 4\d\d /);
      expect(smuggled.sent).toBeLessThan(32 * 1024 * 1024);
    }
    // Under the bound the offer is read and judged as usual (400: it is no usable SDP).
    const small = await fetch(`${media.base}${whip.path}`, { method: "POST", headers: { ...whip.headers, "content-type": SDP_CONTENT_TYPE }, body: sdp(LIMIT - 200) });
    expect(small.status).toBe(400);
    const metrics = await (await media.api("/metrics")).text();
    expect(metrics).toContain('vsb_whip_rejected_total{reason="offer_too_large"} 2');
    expect(metrics).toContain('vsb_whep_rejected_total{reason="offer_too_large"} 2');
  }, 60_000);
});
