// dataSubType is a level of the frames' routing key (video.{dataSubType}.{id}): only a routing
// word passes, so "x.y" cannot move a dataflow's frames past consumers bound to video.*.{id}.
import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataflowMetadataSchema } from "../../shared/mod.ts";
import { harness } from "./harness.ts";
import { sensor2022 } from "./sensor_body.ts";

const dir = mkdtempSync(join(tmpdir(), "vsb-routing-word-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function withSubType(dataSubType: string) {
  const body = sensor2022();
  body.dataTypeInfo = { dataType: "video", dataSubType };
  return body;
}

describe("dataSubType is a routing word", () => {
  test("2022 and agent values pass; dots, wildcards, slashes, spaces and empty are refused", async () => {
    for (const ok of ["h264", "H264", "cam_front-1", "x".repeat(64)]) {
      expect(DataflowMetadataSchema.safeParse(withSubType(ok)).success).toBe(true);
    }
    for (const bad of ["x.y", "*", "#", "a/b", "a+b", "a b", "", "x".repeat(65), "é"]) {
      expect(DataflowMetadataSchema.safeParse(withSubType(bad)).success).toBe(false);
    }
  });

  test("POST /dataflows with \"x.y\" is 400 with one line naming the field; nothing is registered", async () => {
    const { json, registry } = await harness();
    const res = await json("POST", "/dataflows", withSubType("x.y"));
    expect(res.status).toBe(400);
    const { error } = await res.json() as { error: string };
    expect(error).toContain("dataSubType");
    expect(error).not.toContain("\n");
    expect((await registry.list({ active: true })).length).toBe(0);
  });

  test("a stored row from before the rule is ended at start, not published under a bad key", async () => {
    const db = join(dir, "old.db");
    const first = await harness({ db });
    const good = await (await first.json("POST", "/dataflows", sensor2022())).json() as { id: number };
    const bad = await (await first.json("POST", "/dataflows", sensor2022())).json() as { id: number };
    await first.registry.stop();
    first.store.close();
    const raw = new Database(db);
    raw.run("UPDATE dataflows SET data_sub_type = 'x.y' WHERE id = ?", [bad.id]);
    raw.close();

    const second = await harness({ db });
    expect((await second.registry.list({ active: true })).map((f) => f.id)).toEqual([good.id]);
    expect((await second.registry.list({ active: false })).map((f) => f.id)).toContain(bad.id);
    await second.registry.stop();
    second.store.close();
  });
});
