/**
 * The operator dashboard at `/`: one static HTML page (dashboard.html, no build step, no
 * CDN) imported as text, so `bun build --compile` embeds it in the binary. The page itself
 * is public; every API call it makes carries the API token, which it asks for once on a 401.
 */
import { ROUTE } from "../../shared/mod.ts";
import type { RouteModule } from "../api/create_app.ts";
import page from "./dashboard.html" with { type: "text" };

/** The page's security headers: no framing, nothing loaded from elsewhere. */
const HEADERS: Record<string, string> = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-cache",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "content-security-policy":
    "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'",
};

/** The dashboard as a route module for `createApp({ routes })`. */
export function dashboardRoutes(): RouteModule {
  return {
    publicPaths: [ROUTE.dashboard],
    mount(app) {
      app.get(ROUTE.dashboard, () => new Response(page as unknown as string, { status: 200, headers: HEADERS }));
    },
  };
}
