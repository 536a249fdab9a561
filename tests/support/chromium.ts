// Headless Chromium for tests: Debian's /usr/bin/chromium driven by playwright-core (never a
// downloaded browser), with the loopback-only WebRTC flags of FACTS.md. The browser is
// started as a server so its pid is known: it is closed by the test, or killed by pid when
// the run ends.
import { type Browser, chromium } from "playwright-core";
import { hasChromium } from "./gst.ts";
import { onCleanup } from "./procs.ts";

export { hasChromium };

/** Where Debian installs Chromium. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Headless, no network beyond 127.0.0.1/localhost, WebRTC on loopback (FACTS.md). */
export const CHROMIUM_FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
];

/** Flags for a fake camera and microphone that need no permission prompt. */
export const FAKE_CAMERA_FLAGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"];

/** A launched Chromium. */
export interface LaunchedChromium {
  browser: Browser;
  pid: number;
  close(): Promise<void>;
}

/** Launches headless Chromium with {@link CHROMIUM_FLAGS} plus `extraFlags`. */
export async function launchChromium(extraFlags: string[] = []): Promise<LaunchedChromium> {
  const server = await chromium.launchServer({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_FLAGS, ...extraFlags] });
  const pid = server.process().pid!;
  const kill = () => {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  };
  const close = async () => {
    unregister();
    await server.close().catch(kill);
  };
  const unregister = onCleanup(close, kill);
  const browser = await chromium.connect(server.wsEndpoint());
  return { browser, pid, close };
}
