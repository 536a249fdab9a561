// Registration bodies for proxy tests.
import type { DataflowMetadataInput } from "../../shared/mod.ts";

/** A body exactly as the 2022 5GMETA video sensor sent it (extraAttributes "", no videoInfo). */
export function sensor2022(): Record<string, unknown> {
  return {
    dataTypeInfo: { dataType: "video", dataSubType: "h264" },
    dataInfo: { dataFormat: "webrtc", dataSampleRate: 10.0, dataflowDirection: "upload", extraAttributes: "" },
    licenseInfo: { licenseGeolimit: "europe", licenseType: "profit" },
    dataSourceInfo: {
      sourceTimezone: 2,
      sourceStratumLevel: 1,
      sourceId: 12345678,
      sourceType: "vehicle",
      sourceLocationInfo: {
        locationQuadkey: "031333123201033303",
        locationCountry: "ESP",
        locationLatitude: 43.295778,
        locationLongitude: -1.980823,
      },
    },
  };
}

/** A vsb agent's body (typed videoInfo), at `quadkey`. */
export function agentBody(quadkey = "032010110301111112", dataType = "video"): DataflowMetadataInput {
  return {
    dataTypeInfo: { dataType, dataSubType: "h264" },
    dataInfo: { dataFormat: "webrtc", dataSampleRate: 30, dataflowDirection: "upload", extraAttributes: { lane: 2 } },
    licenseInfo: { licenseGeolimit: "europe", licenseType: "profit" },
    dataSourceInfo: {
      sourceTimezone: "Europe/Madrid",
      sourceStratumLevel: 2,
      sourceId: "cam-1",
      sourceType: "rsu",
      sourceLocationInfo: { locationQuadkey: quadkey, locationCountry: "USA", locationLatitude: 40.7128, locationLongitude: -74.006 },
    },
    videoInfo: { width: 640, height: 480, fps: 30, codec: "h264", bitrateKbps: 1500, source: "test", timestamp: 1700000000000 },
  };
}
