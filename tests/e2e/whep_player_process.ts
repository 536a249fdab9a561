// A WHEP player in a process of its own, so a test can kill it outright (SIGKILL: no DELETE,
// no DTLS close_notify, no RTCP BYE, like a browser tab whose machine lost power).
//   bun tests/e2e/whep_player_process.ts URL   → prints its PlayerStats as one JSON line every 200 ms
import { WhepPlayer } from "./whep_player.ts";

const url = process.argv[2];
if (!url) throw new Error("usage: bun tests/e2e/whep_player_process.ts WHEP-URL");
const player = await WhepPlayer.open(url);
setInterval(() => process.stdout.write(`${JSON.stringify(player.stats)}\n`), 200);
