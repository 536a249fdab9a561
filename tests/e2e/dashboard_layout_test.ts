// The dashboard's table in headless Chromium at an operator's 1280×720: with several dataflows
// (long sourceIds and quadkeys, a 2022 sensor, an ended one, a live one being previewed) every
// cell, the "preview" button included, lies inside the table's panel, which does not scroll
// sideways; long values are cut with the full value in a title. At 1024 px the preview goes
// under the table, which still fits; narrower, the table scrolls inside its panel, never the
// page. Screenshots go to .tmp/dashboard-*.png.
import { afterAll, describe, expect } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { PATH, ROUTE } from "../../shared/mod.ts";
import { agentBody, sensor2022 } from "../proxy/sensor_body.ts";
import { hasChromium, launchChromium } from "../support/chromium.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { hasRabbit } from "../support/rabbitmq.ts";
import { GST_ELEMENTS } from "./whip_harness.ts";
import { type MediaProxy, pushFlow, registerFlow, startMediaProxy } from "./whep_harness.ts";

const it = skipUnless(hasRabbit() && hasElements(...GST_ELEMENTS) && hasChromium(), "needs RabbitMQ, GStreamer (x264enc) and /usr/bin/chromium");
const SHOTS = join(import.meta.dir, "..", "..", ".tmp");
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

const LONG_SOURCE_ID = `roadside-unit-${"a1b2c3d4".repeat(14)}`.slice(0, 128); // the longest sourceId accepted
const LONG_QUADKEY = "0313331232010333030123012301230"; // 31 digits, the longest quadkey accepted

async function register(media: MediaProxy, body: unknown): Promise<number> {
  const res = await media.api(ROUTE.dataflows, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (res.status !== 201) throw new Error(`POST /dataflows answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { id: number }).id;
}

/** Runs in the page: every cell and button of the table whose box is not inside the panel's visible box. */
function outside() {
  const panel = document.querySelector(".flows")!;
  const p = panel.getBoundingClientRect();
  const bad: string[] = [];
  for (const el of document.querySelectorAll("#flows th, #flows td, #flows button")) {
    const r = el.getBoundingClientRect();
    if (r.left < p.left - 0.5 || r.right > p.right + 0.5 || r.top < p.top - 0.5 || r.bottom > p.bottom + 0.5) {
      const td = el.closest("td, th") as HTMLElement;
      bad.push(`${el.tagName.toLowerCase()} ${td?.dataset.col ?? td?.textContent} [${Math.round(r.left)}..${Math.round(r.right)}] outside [${Math.round(p.left)}..${Math.round(p.right)}]`);
    }
  }
  // The table's own width, unconstrained: how much room the panel has to spare.
  const table = document.querySelector("#flows") as HTMLElement;
  table.style.width = "max-content";
  const natural = table.offsetWidth;
  const columns = [...table.querySelectorAll("thead th")].map((th) => Math.round(th.getBoundingClientRect().width));
  table.style.width = "";
  return {
    bad, natural, columns,
    panel: { scrollWidth: panel.scrollWidth, clientWidth: panel.clientWidth, overflowX: getComputedStyle(panel).overflowX },
    page: { scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth },
    viewport: innerWidth,
  };
}

/** Runs in the page: the cut elements whose text does not fit, with the title of their cell. */
function cut() {
  return [...document.querySelectorAll("#flows td .cut")].filter((el) => el.scrollWidth > el.clientWidth)
    .map((el) => ({ col: (el.closest("td") as HTMLElement).dataset.col, text: el.textContent, title: (el.closest("td") as HTMLElement).title }));
}

async function shot(page: Page, name: string) {
  mkdirSync(SHOTS, { recursive: true });
  const path = join(SHOTS, name);
  await page.screenshot({ path });
  return path;
}

describe("dashboard layout in Chromium", () => {
  it("at 1280×720 and 1024 px every column fits its panel (no sideways scroll); at 760 px the table scrolls inside its panel", async () => {
    const media = await startMediaProxy();
    cleanups.push(() => media.stop());
    const long = agentBody(LONG_QUADKEY);
    long.dataSourceInfo.sourceId = LONG_SOURCE_ID;
    long.dataSourceInfo.sourceType = "vehicle-with-a-rather-long-source-type";
    long.dataSourceInfo.sourceLocationInfo.locationCountry = "ESP";
    const longId = await register(media, long);
    await register(media, sensor2022()); // numeric sourceId, no videoInfo
    const ended = await register(media, agentBody("1202102332221212"));
    expect((await media.api(PATH.dataflow(ended), { method: "DELETE" })).status).toBe(204);
    const hd = agentBody("0313331232");
    hd.dataSourceInfo.sourceId = 4294967295;
    hd.videoInfo = { ...hd.videoInfo!, width: 1920, height: 1080, fps: 29.97 };
    await register(media, hd);
    const reg = await registerFlow(media);
    const live = await pushFlow(media, reg);
    cleanups.push(() => live.stop());

    const chromium = await launchChromium();
    cleanups.push(() => chromium.close());
    const page = await chromium.browser.newPage({ viewport: { width: 1280, height: 720 } });
    await page.goto(`${media.base}/`);
    const row = page.locator(`tr[data-id="${reg.id}"]`);
    await row.locator(".state.live").waitFor({ timeout: 10_000 });
    await page.locator(`tr[data-id="${ended}"] .state.expired`).waitFor({ timeout: 5000 });
    expect(await page.locator("#flows tbody tr").count()).toBe(5);
    // A preview playing, as an operator would have it: the selected row and the video.
    await row.locator("button.preview").click();
    await page.waitForFunction(() => (document.querySelector("video") as HTMLVideoElement).videoWidth > 0, undefined, { timeout: 15_000 });
    await page.waitForFunction((id) => document.querySelector(`tr[data-id="${id}"] .viewers`)?.textContent === "1 viewer", reg.id, { timeout: 5000 });
    await page.locator("#stats", { hasText: "decoded" }).waitFor({ timeout: 5000 });
    // The pushed flow stamps capture times (as vsb-agent does): its glass-to-bus line is shown too.
    await row.locator(".g2b").waitFor({ timeout: 10_000 });

    const wide = await page.evaluate(outside);
    console.log(JSON.stringify({ ...wide, shot: await shot(page, "dashboard-1280x720.png") }));
    expect(wide.bad).toEqual([]);
    expect(wide.panel.scrollWidth).toBeLessThanOrEqual(wide.panel.clientWidth);
    expect(wide.page.scrollWidth).toBeLessThanOrEqual(wide.page.clientWidth);

    // The live row: routing key where consumers bind, last keep-alive, last media and the replica owning its WHIP session.
    const cells = async (id: number) => Object.fromEntries(await page.locator(`tr[data-id="${id}"] td`).evaluateAll((tds) =>
      tds.map((td) => [(td as HTMLElement).dataset.col, td.textContent])));
    // Rates come from a one-second window and the table refreshes every 2 s: wait (bounded) for a row showing them.
    await page.waitForFunction((id) => /^320×240 · [1-9]\d* fps(\d+ kbit|\d+\.\d\d Mbit)\/s$/.test(document.querySelector(`tr[data-id="${id}"] td[data-col="video"]`)?.textContent ?? ""),
      reg.id, { timeout: 10_000 });
    const liveCells = await cells(reg.id);
    expect(liveCells.id).toBe(`${reg.id}live${reg.routingKey}`);
    expect(liveCells.seen).toMatch(/^\d+ s agomedia \d+ s agoon 127\.0\.0\.1:\d+$/);
    expect(liveCells.frames).toMatch(/^\d+\d+ droppedg→b \d+\/\d+ ms$/);
    expect(liveCells.video).toMatch(/^320×240 · [1-9]\d* fps(\d+ kbit|\d+\.\d\d Mbit)\/s$/);
    expect((await cells(longId)).seen).toMatch(/no media yet$/);
    // Long values are cut, and their cell's title carries them whole.
    const cutNow = await page.evaluate(cut);
    expect(cutNow.map((c) => c.col).sort()).toEqual(["location", "source", "source"]);
    for (const c of cutNow) expect(c.title).toContain(c.col === "location" ? LONG_QUADKEY : c.text!);
    expect(cutNow.find((c) => c.col === "source" && c.text === LONG_SOURCE_ID)?.title).toContain(LONG_SOURCE_ID);

    // 1024 px: the preview goes under the table, which still shows every column.
    await page.setViewportSize({ width: 1024, height: 720 });
    const mid = await page.evaluate(outside);
    console.log(JSON.stringify({ viewport: 1024, natural: mid.natural, panel: mid.panel, page: mid.page, shot: await shot(page, "dashboard-1024x720.png") }));
    expect(mid.bad).toEqual([]);
    expect(mid.page.scrollWidth).toBeLessThanOrEqual(mid.page.clientWidth);

    // Narrower than the table: it scrolls inside its panel, never the page.
    await page.setViewportSize({ width: 760, height: 720 });
    const narrow = await page.evaluate(outside);
    console.log(JSON.stringify({ viewport: 760, natural: narrow.natural, panel: narrow.panel, page: narrow.page, shot: await shot(page, "dashboard-760x720.png") }));
    expect(narrow.page.scrollWidth).toBeLessThanOrEqual(narrow.page.clientWidth);
    expect(narrow.panel.overflowX).toBe("auto");
    expect(narrow.panel.scrollWidth).toBeGreaterThan(narrow.panel.clientWidth);
    expect(narrow.bad.some((b) => b.startsWith("button"))).toBe(true); // the preview buttons are past the panel's right edge…
    await page.evaluate(() => (document.querySelector(".flows")!.scrollLeft = 1e6));
    const scrolled = await page.evaluate(outside);
    expect(scrolled.bad.filter((b) => b.startsWith("button"))).toEqual([]); // …and scrolled into it
    expect(scrolled.page.scrollWidth).toBeLessThanOrEqual(scrolled.page.clientWidth);
  }, 90_000);
});
