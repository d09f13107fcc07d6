/**
 * `worm dev --processes`: each acceptor and the sequencer in its own process, with a status table
 * that follows them (one stopped by SIGKILL, the same one started again by hand), the cluster
 * serving through a minority down, and no process left behind when `worm dev` itself is killed.
 * And the in-process `worm dev` prints the same status table.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Procs, runWorm, tempDir } from "./harness.ts";

interface Row {
  readonly role: string;
  readonly address: string;
  readonly pid?: number;
  readonly state: string;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(what: string, ok: () => boolean, timeoutMs = 20_000): Promise<void> {
  for (const start = Date.now(); !ok(); await sleep(100)) if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting until ${what}`);
}

test("worm dev --processes: one process each, followed by the status table; killing worm dev stops them all", { timeout: 180_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-dev-processes-");
  const dev = procs.start(["dev", "--processes", "--data-dir", join(dir, "dev"), "--base-port", "0", "--json"]);
  const ready = await dev.waitForJson((l) => l.event === "ready", 60_000);
  const rows = ready.processes as Row[];
  assert.deepEqual(rows.map((r) => [r.role, r.state]), [["acceptor 1", "up"], ["acceptor 2", "up"], ["acceptor 3", "up"], ["sequencer", "up"]]);
  const pids = rows.map((r) => r.pid!);
  assert.equal(new Set([...pids, dev.child.pid]).size, 5, "four processes besides worm dev");
  const file = ready.clusterFile as string;

  // One acceptor killed: the table says so, and the cluster still serves (2 of 3).
  process.kill(pids[1]!, "SIGKILL");
  const down = await dev.waitForJson((l) => l.event === "status" && (l.processes as Row[])[1]!.state === "stopped (signal SIGKILL)");
  assert.deepEqual((down.processes as Row[]).map((r) => r.state), ["up", "stopped (signal SIGKILL)", "up", "up"]);
  const w = await runWorm(["wor", "write", "dev", "5", "--value", "minority down", "--cluster", file]);
  assert.equal(w.code, 0, w.stderr);
  const appended = await runWorm(["log", "create", "events", "--cluster", file]).then(() => runWorm(["log", "append", "events", "--data", "x", "--cluster", file]));
  assert.equal(appended.code, 0, `the sequencer process serves: ${appended.stderr}`);

  // Started again by hand (the command the status line prints): the table follows.
  const again = procs.start(["node", "--cluster", file, "--id", "2"]);
  await again.waitForJson((l) => l.event === "listening");
  await dev.waitForJson((l) => l.event === "status" && (l.processes as Row[])[1]!.state === "up (not started by worm dev)");

  // worm dev killed outright: its processes notice and stop.
  await dev.kill("SIGKILL");
  for (const pid of [pids[0]!, pids[2]!, pids[3]!]) await until(`process ${pid} exits`, () => !alive(pid));
  assert.ok(again.running, "a process worm dev did not start is left alone");
  assert.equal((await again.kill("SIGTERM")).code, 0);
});

test("worm dev prints a status table", { timeout: 120_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-dev-table-");
  const dev = procs.start(["dev", "--data-dir", join(dir, "dev"), "--base-port", "0"]);
  await until("worm dev serves", () => dev.stdout.includes("serving; Ctrl-C to stop") || !dev.running, 60_000);
  const pid = String(dev.child.pid);
  assert.match(dev.stdout, /\nPROCESS +ADDRESS +PID +STATE +DATA\n/);
  for (const role of ["acceptor 1", "acceptor 2", "acceptor 3", "sequencer"]) {
    assert.match(dev.stdout, new RegExp(`\\n${role} +127\\.0\\.0\\.1:\\d+ +${pid} +up`), role);
  }
  assert.equal((await dev.kill("SIGTERM")).code, 0);
});
