import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { it } from "node:test";

const script = fileURLToPath(new URL("../../proto/check-generated.sh", import.meta.url));

it("proto/gen matches what buf generates from the committed schema (from any cwd)", () => {
  const r = spawnSync("bash", [script], { cwd: tmpdir(), encoding: "utf8", timeout: 120_000 });
  assert.equal(r.status, 0, `check-generated.sh failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /proto\/gen is up to date/);
});
