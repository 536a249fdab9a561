/**
 * The operator's pages: the dashboard at `/` and the camera page at `/camera` (the browser as
 * a sensor). Static HTML (no build step, no CDN) imported as text, so `bun build --compile`
 * embeds it in the binary. The pages are public; every API call they make carries the API
 * token, which they ask for once on a 401.
 */
import { ROUTE } from "../../shared/mod.ts";
import type { RouteModule } from "../api/create_app.ts";
import camera from "./camera.html" with { type: "text" };
import page from "./dashboard.html" with { type: "text" };

/** Security headers: no framing, nothing loaded from elsewhere. */
function headers(contentType: string, scriptSrc: string): Record<string, string> {
  return {
    "content-type": contentType,
    "cache-control": "no-cache",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "content-security-policy":
      `default-src 'self'; script-src ${scriptSrc}; style-src 'unsafe-inline'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'`,
  };
}

const HTML = "text/html; charset=utf-8";

/** The pages as a route module for `createApp({ routes })`. */
export function dashboardRoutes(): RouteModule {
  return {
    publicPaths: [ROUTE.dashboard, ROUTE.camera],
    mount(app) {
      app.get(ROUTE.dashboard, () => new Response(page as unknown as string, { status: 200, headers: headers(HTML, "'unsafe-inline'") }));
      app.get(ROUTE.camera, () => new Response(camera as unknown as string, { status: 200, headers: headers(HTML, "'unsafe-inline'") }));
    },
  };
}
