/** Registry gauges and counters for `/metrics`. */
import type { Metrics } from "../metrics.ts";
import type { Registry } from "./registry.ts";

/** Registers dataflow/demand gauges and end counters for `registry` in `metrics`. */
export function registerRegistryMetrics(registry: Registry, metrics: Metrics): void {
  metrics.gauge("vsb_dataflows", "Active dataflows: all, live (media), sending, and udp_forward (holding a UDP forward port)", (series) => {
    const c = registry.counts();
    series.set({ kind: "active" }, c.active);
    series.set({ kind: "live" }, c.live);
    series.set({ kind: "sending" }, c.sending);
    series.set({ kind: "udp_forward" }, c.forwarding);
  });
  metrics.gauge("vsb_demands", "Live demand leases", (series) => series.set(undefined, registry.counts().demands));
  const ended = metrics.counter("vsb_dataflows_ended_total", "Dataflows ended, by reason");
  registry.on("ended", ({ reason }) => ended.inc({ reason }));
  const sendChanges = metrics.counter("vsb_send_changes_total", "Changes of send announced on control topics").with();
  registry.on("send", () => sendChanges.inc());
}
