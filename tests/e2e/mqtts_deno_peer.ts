// Run by tests/e2e/broker_tls_test.ts under the real, pinned Deno: the agent's ControlChannel over
// mqtts with a CA file, as the shipped agent runs it (mqtt.js on Deno's node:tls). Announces
// newdataflow once connected and exits 0; exits 3 when it is still not connected after 8 s.
// Env: PEER_MQTT_URL, PEER_MQTT_USER, PEER_MQTT_PASSWORD, PEER_CA_FILE, PEER_ID.
import { readFileSync } from "node:fs";
import { ControlChannel } from "../../agent/control/control_channel.ts";
import { createLogger } from "../../agent/log.ts";
import { environment, exitProcess } from "../../agent/runtime.ts";

const env = environment();
const id = Number(env.PEER_ID);
const log = createLogger({ peer: "deno" });
const channel = new ControlChannel({
  urls: [env.PEER_MQTT_URL!], username: env.PEER_MQTT_USER, password: env.PEER_MQTT_PASSWORD,
  ca: readFileSync(env.PEER_CA_FILE!, "utf8"), caFile: env.PEER_CA_FILE,
  id, event: { id }, log, onSend: () => undefined,
  controlKey: "a2V5LW9mLXRoZS1icm9rZXItdGxzLXRlc3QtcGVlcg", // as registered: no key warning
});
const deadline = Date.now() + 8000;
while (!channel.connected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
if (!channel.connected) {
  await channel.close();
  exitProcess(3);
}
const acked = await channel.announce("new");
await channel.close();
exitProcess(acked ? 0 : 4);
