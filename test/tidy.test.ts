/**
 * House rules that keep the code the shape docs/ARCHITECTURE.md draws. Each rule reads the source
 * tree and names the offending files.
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const SKIP = new Set(["node_modules", ".git", "gen", ".data"]);

function sourceFiles(dir = REPO): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}

test("no code calls process.exit() (it can deadlock on Node 24 and cuts piped output short)", () => {
  const offenders = sourceFiles()
    .filter((f) => !f.endsWith("tidy.test.ts"))
    .filter((f) => /\bprocess\.exit\s*\(/.test(readFileSync(f, "utf8")))
    .map((f) => relative(REPO, f));
  assert.deepEqual(offenders, []);
});
