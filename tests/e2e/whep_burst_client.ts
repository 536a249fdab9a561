// A WHEP client of its own process for whep_viewer_caps_test.ts: POSTs the offer in OFFER_FILE to
// URL COUNT times at once (real sockets, no event loop shared with the proxy) and prints one
// JSON line: how many answers had each status, and the reasons of the JSON 503s.
// Usage: bun whep_burst_client.ts URL COUNT OFFER_FILE
import { readFileSync } from "node:fs";
import { SDP_CONTENT_TYPE } from "../../shared/mod.ts";

const [url, countText, offerFile] = process.argv.slice(2);
const offer = readFileSync(offerFile!, "utf8");
const started = performance.now();
const answers = await Promise.all(Array.from({ length: Number(countText) }, async () => {
  try {
    const res = await fetch(url!, { method: "POST", headers: { "content-type": SDP_CONTENT_TYPE }, body: offer });
    const body = await res.text();
    const json = res.headers.get("content-type") === "application/json" ? JSON.parse(body) : undefined;
    return { status: String(res.status), reason: json?.details?.reason as string | undefined };
  } catch (e) {
    return { status: `error: ${(e as Error).message}`, reason: undefined };
  }
}));
const statuses: Record<string, number> = {};
const reasons: Record<string, number> = {};
for (const a of answers) {
  statuses[a.status] = (statuses[a.status] ?? 0) + 1;
  if (a.reason) reasons[a.reason] = (reasons[a.reason] ?? 0) + 1;
}
process.stdout.write(`${JSON.stringify({ statuses, reasons, ms: Math.round(performance.now() - started) })}\n`);
