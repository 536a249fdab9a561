/**
 * The wire contract between vsb-agent, vsb-proxy and consumers: the only module both
 * programs import. It imports nothing but zod.
 */
export * from "./names.ts";
export * from "./quadkey.ts";
export * from "./dataflow.ts";
export * from "./demand.ts";
export * from "./discovery.ts";
export * from "./mec_registration.ts";
export * from "./bus.ts";
export * from "./errors.ts";
export * from "./h264.ts";
export * from "./mask_url.ts";
export * from "./abs_capture_time.ts";
