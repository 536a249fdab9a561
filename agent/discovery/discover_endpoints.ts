/**
 * Steps 1–2: find the serving MEC for the sensor's tile and the addresses of its services —
 * or take them as configured (static `--registration-url`, `--mqtt-url`, `--whip-url`).
 * Static values always win over discovered ones.
 *
 * A service's `port` may be a number or, as the 5GMETA discovery service sends it, a
 * numeric string ("12346"); it is a number from here on.
 */
import { DiscoverySchema, PATH, portNumber, SERVICE, type Service } from "../../shared/mod.ts";

/** Where the MEC's services are. */
export interface Endpoints {
  /** The registration API in use: one of `registrationUrls` (agent/discovery/endpoint_failover.ts picks it). */
  registrationUrl: string;
  /**
   * Every registration API discovery named for the MEC (replicas behind one store), in its
   * order; the agent moves to the next when the one in use stops answering. One when static.
   */
  registrationUrls?: string[];
  /** The MEC's `video-broker` services, in discovery's order (empty when static or none). */
  videoBrokerUrls?: string[];
  /** MQTT 3.1.1 broker nodes (several: a cluster, tried in turn); empty when none is known. */
  mqttUrls: string[];
  /** WHIP endpoint override; else the registration answer's `ingest.whipUrl`. */
  whipUrl?: string;
  mecId?: string | number;
}

/** What discovery depends on (a subset of the agent config). */
export interface DiscoveryOptions {
  discoveryUrl?: string;
  registrationUrl?: string;
  /** Static broker nodes (`--mqtt-url`); empty: from discovery. */
  mqttUrl?: string[];
  whipUrl?: string;
  apiToken?: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** Discovery did not name a usable MEC. */
export class DiscoveryError extends Error {
  override name = "DiscoveryError";
}

function serviceUrl(service: Service | undefined, scheme: string): string | undefined {
  if (!service) return undefined;
  if (service.url) return service.url;
  const host = service.ip.includes(":") ? `[${service.ip}]` : service.ip;
  return `${scheme}://${host}:${portNumber(service.port)}`;
}

/** Resolves the MEC endpoints for `tile` (zoom 18). */
export async function discoverEndpoints(tile: string, o: DiscoveryOptions): Promise<Endpoints> {
  if (o.registrationUrl || !o.discoveryUrl) {
    if (!o.registrationUrl) throw new DiscoveryError("neither --discovery-url nor --registration-url is set");
    return { registrationUrl: o.registrationUrl, registrationUrls: [o.registrationUrl], videoBrokerUrls: [], mqttUrls: o.mqttUrl ?? [], whipUrl: o.whipUrl };
  }
  const url = `${o.discoveryUrl.replace(/\/+$/, "")}${PATH.mecTile(tile)}`;
  const headers: Record<string, string> = o.apiToken ? { authorization: `Bearer ${o.apiToken}` } : {};
  let response: Response;
  try {
    response = await (o.fetch ?? fetch)(url, { headers, signal: AbortSignal.timeout(o.timeoutMs ?? 5000) });
  } catch (error) {
    throw new DiscoveryError(`GET "${url}" failed`, { cause: error });
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new DiscoveryError(`GET "${url}" answered ${response.status}`);
  }
  const parsed = DiscoverySchema.safeParse(await response.json().catch(() => undefined));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` at "${issue.path.join(".")}"` : "";
    throw new DiscoveryError(`GET "${url}" answered an unexpected body${where}: ${issue?.message ?? "invalid"}`, { cause: parsed.error });
  }
  for (const mec of parsed.data) {
    // Every entry of a name: the nodes of a broker cluster, the replicas of a proxy each have one.
    const all = (name: string, scheme: string) =>
      [...new Set(mec.sb_services.filter((s) => s.service_name === name).map((s) => serviceUrl(s, scheme)!))];
    const registrationUrls = all(SERVICE.registrationApi, "http");
    if (registrationUrls.length === 0) continue;
    const brokers = all(SERVICE.messageBroker, "mqtt");
    return {
      registrationUrl: registrationUrls[0]!,
      registrationUrls,
      videoBrokerUrls: all(SERVICE.videoBroker, "http"),
      mqttUrls: o.mqttUrl?.length ? o.mqttUrl : brokers,
      whipUrl: o.whipUrl,
      mecId: mec.mec_id ?? mec.id,
    };
  }
  throw new DiscoveryError(`no MEC with a registration API serves tile "${tile}"`);
}
