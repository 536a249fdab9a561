import { describe, expect, test } from "bun:test";
import { DataflowMetadataSchema, DemandRequestSchema, eventHeaders } from "../../shared/mod.ts";
import { sensor2022 } from "../proxy/sensor_body.ts";

const SENSOR_2022 = sensor2022() as any;

describe("DataflowMetadataSchema", () => {
  test("accepts a 2022 5GMETA sensor body and stores both time field names", () => {
    const m = DataflowMetadataSchema.parse(SENSOR_2022);
    expect(m.dataSourceInfo.sourceTimezone).toBe(2);
    expect(m.dataSourceInfo.timeZone).toBe(2);
    expect(m.dataSourceInfo.timeStratumLevel).toBe(1);
    expect(m.dataInfo.extraAttributes).toBeUndefined();
  });

  test("a body without locationQuadkey gets the zoom-18 tile of its lat/lon; a sent one is kept", () => {
    const body = structuredClone(SENSOR_2022) as any;
    delete body.dataSourceInfo.sourceLocationInfo.locationQuadkey;
    expect(DataflowMetadataSchema.parse(body).dataSourceInfo.sourceLocationInfo.locationQuadkey).toBe("031333123201033303");
    body.dataSourceInfo.sourceLocationInfo.locationQuadkey = "0313";
    expect(DataflowMetadataSchema.parse(body).dataSourceInfo.sourceLocationInfo.locationQuadkey).toBe("0313");
    delete body.dataSourceInfo.sourceLocationInfo.locationLatitude;
    expect(DataflowMetadataSchema.safeParse(body).success).toBe(false);
  });

  test("reads the server-side names timeZone/timeStratumLevel too", () => {
    const body = structuredClone(SENSOR_2022) as any;
    delete body.dataSourceInfo.sourceTimezone;
    delete body.dataSourceInfo.sourceStratumLevel;
    body.dataSourceInfo.timeZone = "Europe/Madrid";
    body.dataSourceInfo.timeStratumLevel = 3;
    const m = DataflowMetadataSchema.parse(body);
    expect(m.dataSourceInfo.sourceTimezone).toBe("Europe/Madrid");
    expect(m.dataSourceInfo.sourceStratumLevel).toBe(3);
  });

  test("extraAttributes may be a JSON string, an object, null or empty", () => {
    const withString = { ...SENSOR_2022, dataInfo: { ...SENSOR_2022.dataInfo, extraAttributes: '{"resolution":"640x480"}' } };
    expect(DataflowMetadataSchema.parse(withString).dataInfo.extraAttributes).toEqual({ resolution: "640x480" });
    const withObject = { ...SENSOR_2022, dataInfo: { ...SENSOR_2022.dataInfo, extraAttributes: { a: 1 } } };
    expect(DataflowMetadataSchema.parse(withObject).dataInfo.extraAttributes).toEqual({ a: 1 });
    const withNull = { ...SENSOR_2022, dataInfo: { ...SENSOR_2022.dataInfo, extraAttributes: null } };
    expect(DataflowMetadataSchema.parse(withNull).dataInfo.extraAttributes).toBeUndefined();
    const withJunk = { ...SENSOR_2022, dataInfo: { ...SENSOR_2022.dataInfo, extraAttributes: "not json" } };
    expect(DataflowMetadataSchema.safeParse(withJunk).success).toBe(false);
  });

  test("rejects a latitude out of range with the field's path", () => {
    const body = structuredClone(SENSOR_2022) as any;
    body.dataSourceInfo.sourceLocationInfo.locationLatitude = 123;
    const r = DataflowMetadataSchema.safeParse(body);
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path.join(".")).toBe("dataSourceInfo.sourceLocationInfo.locationLatitude");
  });
});

describe("eventHeaders()", () => {
  test("carries the 5GMETA header names with a zoom-25 quadkey, and the registered sourceId as registeredSourceId", () => {
    const h = eventHeaders(7, DataflowMetadataSchema.parse(SENSOR_2022), 99);
    expect(h).toEqual({
      dataType: "video", dataSubType: "h264", dataSampleRate: 10, sourceId: 7,
      locationQuadkey: "0313331232010333031221303", body_size: 99,
      registeredSourceId: String(DataflowMetadataSchema.parse(SENSOR_2022).dataSourceInfo.sourceId),
    });
  });
});

describe("DemandRequestSchema", () => {
  test("needs a selector", () => {
    expect(DemandRequestSchema.safeParse({ ttlSeconds: 10 }).success).toBe(false);
    expect(DemandRequestSchema.parse({ quadkey: "0313" }).ttlSeconds).toBe(30);
  });
});
