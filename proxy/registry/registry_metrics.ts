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
  registry.on("ended", ({ reason, remote }) => void (remote || ended.inc({ reason })));
  metrics.counter("vsb_store_errors_total", "Store writes that failed (disk full, I/O error, read-only), by operation", (series) => {
    for (const [op, n] of registry.storeErrors()) series.set({ op }, n);
  });
  metrics.gauge("vsb_store_healthy", "1 while the store's last write succeeded, else 0 (/ready is 503)", (series) =>
    series.set(undefined, registry.storeHealthy ? 1 : 0));
  metrics.counter("vsb_dataflows_pruned_total", "Ended dataflows deleted after --ended-retention", (series) =>
    series.set(undefined, registry.pruned));
  const sendChanges = metrics.counter("vsb_send_changes_total", "Changes of send announced on control topics").with();
  registry.on("send", ({ remote }) => void (remote || sendChanges.inc()));
}
