/**
 * House rules that keep the code the shape docs/ARCHITECTURE.md §2 draws. Each rule reads the source
 * tree and names the offending files, so a failure says exactly what to fix:
 *  - imports run one way (verify/runtime ← paxos, proto ← wor ← apps ← apps/cli), and each app's
 *    core imports only the platform's cores;
 *  - cores are pure (no node:*, gRPC, classic-level, timers, clocks or randomness);
 *  - the simulator and the model checker never reach gRPC or classic-level, even transitively;
 *  - no hand-written file is over 400 lines, nothing calls process.exit, no export goes unused;
 *  - the lock file is complete, no file names a path outside the repository, and the docs name the
 *    Node version package.json requires.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const SKIP = new Set(["node_modules", ".git", "gen", ".data", ".stryker-tmp", "reports", "dist"]);
const LINES_MAX = 400;

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path));
    else if (name.endsWith(".ts")) out.push(relative(REPO, path));
  }
  return out;
}

const FILES = walk(REPO).sort();
const SOURCES = FILES.filter((f) => !f.startsWith("test/") && !f.startsWith("bench/"));
const text = (f: string): string => readFileSync(join(REPO, f), "utf8");

/** What `f` imports: project files (repo-relative paths) and packages (bare names). */
function importsOf(f: string): { files: string[]; packages: string[] } {
  const files: string[] = [];
  const packages: string[] = [];
  for (const m of text(f).matchAll(/^\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']/gm)) {
    const spec = m[1]!;
    if (spec.startsWith(".")) files.push(normalize(join(dirname(f), spec)));
    else packages.push(spec);
  }
  return { files, packages };
}

/** The layer a file belongs to, for the import rules. */
function layer(f: string): string {
  const parts = f.split("/");
  if (parts[0] === "apps") return parts[1] === "cli" ? "apps/cli" : `apps/*/${parts[2]}`;
  if (parts[0] === "verify") return `verify/${parts[1]}`;
  if (parts[0] === "wor") return `wor/${parts[1]}`;
  return parts[0]!;
}

/** Which layers each layer may import (besides itself). apps/* may import their own app's folders. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  "verify/runtime": [],
  paxos: ["verify/runtime"],
  proto: ["verify/runtime"],
  "wor/core": ["paxos", "proto", "verify/runtime"],
  "wor/wire": ["wor/core", "paxos", "proto", "verify/runtime"],
  "wor/node": ["wor/core", "wor/wire", "paxos", "proto", "verify/runtime"],
  "apps/*/core": ["wor/core", "paxos", "verify/runtime"],
  "apps/*/wire": ["apps/*/core", "wor/wire", "wor/core", "paxos", "proto", "verify/runtime"],
  "apps/*/node": ["apps/*/core", "apps/*/wire", "wor/node", "wor/wire", "wor/core", "paxos", "proto", "verify/runtime"],
  "verify/spec": ["paxos", "verify/runtime", "verify/history"],
  "verify/history": ["verify/runtime"],
  "verify/sim": ["verify/runtime", "verify/spec", "verify/history", "paxos", "proto", "wor/core", "wor/wire", "wor/node", "apps/*/core"],
  "verify/mc": ["verify/runtime", "verify/spec", "paxos", "wor/core", "apps/*/core"],
  "verify/report.ts": ["verify/sim", "verify/mc", "verify/runtime", "paxos"],
};

test("imports run the way docs/ARCHITECTURE.md §2 draws them", () => {
  const bad: string[] = [];
  for (const f of SOURCES) {
    const from = f.startsWith("verify/") && !f.slice(7).includes("/") ? f : layer(f);
    if (from === "apps/cli" || f.startsWith("apps/cli/")) continue;
    const allowed = MAY_IMPORT[from];
    if (!allowed) continue;
    for (const target of importsOf(f).files) {
      const to = layer(target);
      const sameApp = f.startsWith("apps/") && target.startsWith("apps/") && f.split("/")[1] === target.split("/")[1];
      // An app may build on the shared log, and the example KV on any app, layer by layer (docs/ARCHITECTURE.md §2).
      const onLog = f.startsWith("apps/") && (target.startsWith("apps/log/") || f.startsWith("apps/kv/"));
      if (to === from && (!f.startsWith("apps/") || sameApp || onLog)) continue;
      if (to.startsWith("apps/*/") && !sameApp && !onLog && from.startsWith("apps/")) {
        bad.push(`${f} → ${target} (another app)`);
        continue;
      }
      if (!allowed.includes(to)) bad.push(`${f} → ${target} (${from} may not import ${to})`);
    }
  }
  assert.deepEqual(bad, []);
});

const CORE = (f: string): boolean => f.startsWith("paxos/") || f.startsWith("verify/runtime/") || /^(wor|apps\/[^/]+)\/core\//.test(f);

test("cores are pure: no node:*, gRPC, classic-level, timers, clocks or randomness", () => {
  const bad: string[] = [];
  for (const f of SOURCES.filter(CORE)) {
    for (const p of importsOf(f).packages) if (p.startsWith("node:") || p.startsWith("@grpc/") || p === "classic-level") bad.push(`${f} imports ${p}`);
    const code = text(f).replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
    for (const [what, re] of [
      ["a timer", /\b(setTimeout|setInterval|setImmediate|queueMicrotask)\s*\(/],
      ["the clock", /\bDate\b|performance\.now/],
      ["randomness", /Math\.random/],
    ] as const) {
      if (re.test(code)) bad.push(`${f} uses ${what}`);
    }
  }
  assert.deepEqual(bad, []);
});

test("the simulator and the model checker never reach gRPC or classic-level, even through what they import", () => {
  const closure = (start: string, seen = new Set<string>()): Set<string> => {
    if (seen.has(start)) return seen;
    seen.add(start);
    for (const f of importsOf(start).files) if (FILES.includes(f)) closure(f, seen);
    return seen;
  };
  const bad: string[] = [];
  for (const f of SOURCES.filter((x) => x.startsWith("verify/sim/") || x.startsWith("verify/mc/"))) {
    for (const g of closure(f)) {
      for (const p of importsOf(g).packages) if (p.startsWith("@grpc/") || p === "classic-level") bad.push(`${f} reaches ${p} through ${g}`);
    }
  }
  assert.deepEqual([...new Set(bad)], []);
});

test(`no hand-written file is over ${LINES_MAX} lines`, () => {
  const bad = FILES.map((f) => [f, text(f).split("\n").length - 1] as const)
    .filter(([, n]) => n > LINES_MAX)
    .map(([f, n]) => `${f}: ${n} lines`);
  assert.deepEqual(bad, []);
});

test("no code calls process.exit() (it can deadlock on Node 24 and cuts piped output short)", () => {
  const offenders = FILES.filter((f) => f !== "test/tidy.test.ts").filter((f) => /\bprocess\.exit\s*\(/.test(text(f)));
  assert.deepEqual(offenders, []);
});

test("every exported value is used outside its own file (tests count as users; exported types document the API)", () => {
  const bodies = new Map(FILES.map((f) => [f, text(f)]));
  const bad: string[] = [];
  for (const f of SOURCES) {
    const names = [...bodies.get(f)!.matchAll(/^export\s+(?:declare\s+)?(?:abstract\s+)?(?:async\s+)?(?:function\*?|class|const|let|enum)\s+([A-Za-z_$][\w$]*)/gm)].map((m) => m[1]!);
    for (const name of names) {
      const re = new RegExp(`\\b${name.replace(/\$/g, "\\$")}\\b`);
      let used = false;
      for (const [g, body] of bodies) {
        if (g !== f && re.test(body)) {
          used = true;
          break;
        }
      }
      if (!used) bad.push(`${f}: ${name}`);
    }
  }
  assert.deepEqual(bad, []);
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
