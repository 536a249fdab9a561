/**
 * The 5GMETA dataflow metadata this sensor registers (DESIGN.md, "Registration API"), with
 * the typed `videoInfo`. Pure: built from the config, the location and the time.
 */
import type { DataflowMetadataInput } from "../../shared/mod.ts";
import type { SourceSpec } from "../capture/source_spec.ts";
import type { LocationFix } from "../location/location_fix.ts";

/** What the metadata is built from (a subset of the agent config). */
export interface MetadataOptions {
  source: SourceSpec;
  width: number;
  height: number;
  fps: number;
  bitrate: number;
  sourceId: string;
  sourceType: string;
  country: string;
  licenseType: string;
  licenseGeolimit: string;
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
      width: o.width,
      height: o.height,
      fps: o.fps,
      codec: "h264",
      bitrateKbps: o.bitrate,
      source: o.source.kind,
      timestamp: now.getTime(),
    },
  };
}
