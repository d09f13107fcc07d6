/**
 * Output reaches its reader whole (issue: misuse never loses data). A `worm` whose stdout is a pipe
 * used to be cut off at 64 KiB with exit 0 (process.exit before the pipe drained); a reader that
 * goes away early (`| head`) must end the command quietly, not with a stack trace.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { Procs, REPO, runWorm, tempDir, wormArgs } from "./harness.ts";

/** Run `worm args | head -n 1` in a shell: the exit status of worm and what it printed on stderr. */
function intoHead(args: readonly string[], errFile: string): Promise<{ status: string; stderr: string; first: string }> {
  const quoted = args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const worm = [process.execPath, ...wormArgs()].map((a) => `'${a}'`).join(" ");
  const script = `${worm} ${quoted} 2>"$ERR" | head -n 1; echo "status=\${PIPESTATUS[0]}"; cat "$ERR" >&2`;
  return new Promise((resolve) => {
    const child = spawn("bash", ["-c", script], { cwd: REPO, env: { ...process.env, ERR: errFile, NO_COLOR: "1" } });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", () => {
      clearTimeout(timer);
      const lines = out.trim().split("\n");
      resolve({ first: lines[0] ?? "", status: lines.at(-1) ?? "", stderr: err });
    });
  });
}

test("piped output is complete, JSON parses whole, and a reader leaving early ends worm quietly", { timeout: 180_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-output-");
  const dev = procs.start(["dev", "--data-dir", join(dir, "dev"), "--base-port", "0", "--json"]);
  const ready = await dev.waitForJson((l) => l.event === "ready", 60_000);
  const conn = ["--cluster", ready.clusterFile as string];

  const text = await runWorm(["wor", "read", "dev", "0", "--to", "100000", ...conn]);
  assert.equal(text.code, 0, text.stderr);
  assert.equal(text.stdout.split("\n").length - 1, 100_001, "a header and 100,000 rows, every one");

  const json = await runWorm(["wor", "read", "dev", "0", "--to", "100000", "--json", ...conn]);
  assert.equal(json.code, 0, json.stderr);
  assert.equal((JSON.parse(json.stdout) as { results: unknown[] }).results.length, 100_000);

  const head = await intoHead(["wor", "read", "dev", "0", "--to", "100000", ...conn], join(dir, "head.err"));
  assert.equal(head.first, "ADDRESS  STATE      VALUE");
  assert.equal(head.status, "status=0");
  assert.doesNotMatch(head.stderr, /EPIPE|at .*\.ts:\d+/);
});
