// A WHEP client of its own process for whep_viewer_caps_test.ts: opens COUNT sockets to the
// proxy, writes on each a whole POST of the offer in OFFER_FILE but its last byte, and once all
// are connected sends every last byte at once: COUNT requests become readable together, as a
// burst of real players' would (a fetch loop would trickle them in while the proxy is busy).
// Prints one JSON line: how many answers had each status, and the reasons of the JSON 503s.
// Usage: bun whep_burst_client.ts URL COUNT OFFER_FILE
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { SDP_CONTENT_TYPE } from "../../shared/mod.ts";

const [urlText, countText, offerFile] = process.argv.slice(2);
const url = new URL(urlText!);
const offer = readFileSync(offerFile!);
const head = `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: ${SDP_CONTENT_TYPE}\r\n` +
  `content-length: ${offer.byteLength}\r\nconnection: close\r\n\r\n`;
const request = Buffer.concat([Buffer.from(head), offer]);

/** One connected socket with all but the last byte written; `answer` resolves to the raw reply. */
function prepare(): Promise<{ socket: Socket; answer: Promise<string> }> {
  return new Promise((ready, fail) => {
    const socket = connect(Number(url.port), url.hostname);
    let text = "";
    const answer = new Promise<string>((resolve) => {
      socket.on("data", (d) => (text += d.toString("latin1")));
      socket.on("close", () => resolve(text));
    });
    socket.once("error", fail);
    socket.once("connect", () => socket.write(request.subarray(0, -1), () => ready({ socket, answer })));
  });
}

const sockets = await Promise.all(Array.from({ length: Number(countText) }, prepare));
const started = performance.now();
for (const { socket } of sockets) socket.write(request.subarray(-1));
const answers = await Promise.all(sockets.map((s) => s.answer));
const statuses: Record<string, number> = {};
const reasons: Record<string, number> = {};
for (const raw of answers) {
  const status = raw.slice(9, 12) || "none";
  statuses[status] = (statuses[status] ?? 0) + 1;
  const reason = /"reason":"(\w+)"/.exec(raw)?.[1];
  if (reason) reasons[reason] = (reasons[reason] ?? 0) + 1;
}
process.stdout.write(`${JSON.stringify({ statuses, reasons, ms: Math.round(performance.now() - started) })}\n`);
