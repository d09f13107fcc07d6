/**
 * House rules that keep the code the shape docs/ARCHITECTURE.md draws. Each rule reads the source
 * tree and names the offending files.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const SKIP = new Set(["node_modules", ".git", "gen", ".data", "dist"]);

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

test("the lock file is complete: every optional dependency of every locked package is locked too (npm ci installs it as is)", () => {
  const lock = JSON.parse(readFileSync(join(REPO, "package-lock.json"), "utf8")) as {
    packages: Record<string, { optionalDependencies?: Record<string, string> }>;
  };
  const missing: string[] = [];
  for (const [path, pkg] of Object.entries(lock.packages)) {
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) {
      // npm resolves a dependency in the package's own node_modules first, then up the tree.
      const candidates = [path === "" ? `node_modules/${dep}` : `${path}/node_modules/${dep}`, `node_modules/${dep}`];
      if (!candidates.some((c) => c in lock.packages)) missing.push(`${path || "(root)"} → ${dep}`);
    }
  }
  assert.deepEqual(missing, [], "npm install would rewrite the lock (run it on a machine that writes the complete lock and commit the result)");
});

test("no file refers to a path outside the repository (the design notes and the peers' harness live beside checkouts, not in them)", () => {
  const outside = /\/work\/|\.\.\/shared\/|\bDESIGN\.md\b|shared\/(peers|research)\b/;
  const tracked = execFileSync("git", ["ls-files", "-z"], { cwd: REPO, encoding: "utf8" })
    .split("\0")
    .filter((f) => f.length > 0 && f !== "package-lock.json" && !f.endsWith("tidy.test.ts") && existsSync(join(REPO, f)));
  const offenders = tracked.filter((f) => outside.test(readFileSync(join(REPO, f), "utf8")));
  assert.deepEqual(offenders, []);
});

test("the README and docs/OPERATIONS.md name the Node version package.json's engines requires", () => {
  const engines = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { engines: { node: string } }).engines.node;
  const version = /^>=(\d+\.\d+)$/.exec(engines)?.[1];
  assert.ok(version, `engines.node is ${engines}`);
  for (const doc of ["README.md", "docs/OPERATIONS.md"]) assert.match(readFileSync(join(REPO, doc), "utf8"), new RegExp(`Node ≥ ${version.replace(".", "\\.")}\\b`), doc);
});
