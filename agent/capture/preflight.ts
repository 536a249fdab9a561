/**
 * Checks, before the first start, what would otherwise make the gst child fail over and over
 * with a cryptic message: a missing camera or file, a missing gst-launch, a missing encoder.
 */
import { existsSync } from "node:fs";
import { execFile } from "node:child_process";
import { ENCODER_ELEMENT, needsEncoder, type PipelineOptions } from "./pipeline.ts";

/** The capture cannot start as configured; the message is one line naming the value. */
export class CaptureError extends Error {
  override name = "CaptureError";
}

/** What preflight looks at; injected in tests. */
export interface PreflightProbe {
  fileExists(path: string): boolean;
  /** True when `gst-inspect-1.0 --exists ELEMENT` succeeds; undefined when gst-inspect is missing. */
  hasElement(element: string): Promise<boolean | undefined>;
}

/** Probe on the real system. */
export const systemProbe: PreflightProbe = {
  fileExists: (path) => existsSync(path),
  hasElement: (element) =>
    new Promise((resolve) => {
      execFile("gst-inspect-1.0", ["--exists", element], { timeout: 10_000 }, (error) => {
        if (!error) resolve(true);
        else resolve((error as NodeJS.ErrnoException).code === "ENOENT" ? undefined : false);
      });
    }),
};

/** Throws a CaptureError when the configured source cannot work on this machine. */
export async function preflight(o: PipelineOptions, probe: PreflightProbe = systemProbe): Promise<void> {
  const s = o.source;
  if (s.kind === "v4l2" && !probe.fileExists(s.device)) {
    throw new CaptureError(`--source "v4l2:${s.device}": no such device "${s.device}" (is the camera plugged in?)`);
  }
  if (s.kind === "file" && !probe.fileExists(s.path)) {
    throw new CaptureError(`--source "file:${s.path}": no such file "${s.path}"`);
  }
  if (needsEncoder(o)) {
    const element = ENCODER_ELEMENT[o.encoder];
    const found = await probe.hasElement(element);
    if (found === undefined) throw new CaptureError("gst-inspect-1.0 not found: install gstreamer1.0-tools");
    if (!found) {
      throw new CaptureError(`--encoder "${o.encoder}": GStreamer element "${element}" is not available on this machine`);
    }
  }
}
