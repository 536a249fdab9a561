/**
 * This proxy's own discovery answer (5GMETA steps 1–2). One proxy is one MEC, so it
 * answers for every valid tile: a local setup needs no cloud discovery service, and a
 * sensor configured with this proxy as its discovery URL always finds it.
 *
 * `port` is a string ("8080"), as the 5GMETA discovery service sends it: 2022 sensors build
 * URLs with `":" + port`, which fails in Python on an int. `url` is vsb's full address.
 */
import { type Discovery, SERVICE, type Service } from "../../shared/mod.ts";
import type { DiscoveryInfo } from "./create_app.ts";

const DEFAULT_PORTS: Record<string, string> = {
  "http:": "80", "https:": "443", "mqtt:": "1883", "tcp:": "1883", "mqtts:": "8883", "ws:": "80", "wss:": "443",
};

function service(name: string, url: string): Service & { port: string } {
  const u = new URL(url);
  const port = u.port || (DEFAULT_PORTS[u.protocol] ?? "80");
  // Never hand out the broker's credentials: --mqtt-url may carry the proxy operator's user.
  u.username = "";
  u.password = "";
  return { service_name: name, ip: u.hostname.replace(/^\[|\]$/g, ""), port, url: url.includes("@") ? u.toString() : url };
}

/** The discovery answer naming this MEC's message broker, registration API and video broker. */
export function discoveryAnswer(info: DiscoveryInfo): Discovery {
  const base = info.publicUrl.replace(/\/+$/, "");
  return [{
    mec_id: info.mecId,
    sb_services: [
      ...info.mqttUrls.map((url) => service(SERVICE.messageBroker, url)),
      service(SERVICE.registrationApi, base),
      service(SERVICE.videoBroker, base),
    ],
  }];
}
