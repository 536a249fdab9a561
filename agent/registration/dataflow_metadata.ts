/**
 * The 5GMETA dataflow metadata this sensor registers (DESIGN.md, "Registration API"), with
 * the typed `videoInfo`. Pure: built from the config, the location and the time.
 */
import type { DataflowMetadataInput } from "../../shared/mod.ts";
import type { SourceSpec } from "../capture/source_spec.ts";
import type { LocationFix } from "../location/location_fix.ts";
import type { VideoSize } from "./video_size.ts";

/** What the metadata is built from (a subset of the agent config). */
export interface MetadataOptions {
  source: SourceSpec;
  width: number;
  height: number;
  /** The size read from the stream's SPS, once known: it replaces `width`/`height`. */
  videoSize?: VideoSize;
  fps: number;
  bitrate: number;
  sourceId: string;
  sourceType: string;
  country: string;
  licenseType: string;
  licenseGeolimit: string;
  /** Ask the MEC to re-send the RTP over UDP for a legacy pipeline (sent only when true). */
  udpForward?: boolean;
}

/** NTP stratum reported for the sensor's clock (a synchronised client). */
const STRATUM = 3;

/** The body of `POST /dataflows` for this sensor at `fix`. */
export function dataflowMetadata(o: MetadataOptions, fix: LocationFix, now: Date): DataflowMetadataInput {
  return {
    dataTypeInfo: { dataType: "video", dataSubType: "h264" },
    dataInfo: { dataFormat: "webrtc", dataSampleRate: o.fps, dataflowDirection: "upload", extraAttributes: null },
    licenseInfo: { licenseGeolimit: o.licenseGeolimit, licenseType: o.licenseType },
    dataSourceInfo: {
      sourceTimezone: -now.getTimezoneOffset() / 60,
      sourceStratumLevel: STRATUM,
      sourceId: o.sourceId,
      sourceType: o.sourceType,
      sourceLocationInfo: {
        locationQuadkey: fix.tile,
        locationCountry: o.country,
        locationLatitude: fix.lat,
        locationLongitude: fix.lon,
      },
    },
    videoInfo: {
      width: o.videoSize?.width ?? o.width,
      height: o.videoSize?.height ?? o.height,
      fps: o.fps,
      codec: "h264",
      bitrateKbps: o.bitrate,
      source: o.source.kind,
      timestamp: now.getTime(),
    },
    ...(o.udpForward ? { udpForward: true } : {}),
  };
}

/**
 * What a keep-alive re-sends the metadata for: the location (the sensor moved) and the video
 * description (its real size became known), not the timestamp that changes every time.
 */
export function metadataChangeKey(metadata: DataflowMetadataInput): string {
  const video = metadata.videoInfo && { ...metadata.videoInfo, timestamp: undefined };
  return JSON.stringify([metadata.dataSourceInfo.sourceLocationInfo, video]);
}
