/**
 * `worm log` used as a new user would (issue 9 items 4-7 and 11, log parts), with real processes:
 * consecutive appends land in consecutive slots through the sequencer `worm dev` runs; an
 * unreachable sequencer, a cluster without a quorum, and an oversized payload each fail fast with
 * one clear line; a log that does not exist is called a log.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { LIMITS } from "../../paxos/limits.ts";
import { type Finished, Procs, addressesOf, oneLineError, runWorm, startCluster, tempDir } from "./harness.ts";

/** A bounded run: a command that hangs fails its test instead of the whole suite. */
const DEADLINE_MS = 20_000;

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function ok(f: Finished, what: string): Finished {
  assert.equal(f.code, 0, `${what}: exit ${f.code}; stderr: ${f.stderr}`);
  return f;
}

/** Exit `code` with one `worm:` line matching `re`. */
function fails(f: Finished, code: number, re: RegExp, what: string): string {
  assert.equal(f.code, code, `${what}: exit ${f.code}; stderr: ${f.stderr}`);
  const line = oneLineError(f);
  assert.match(line, re, what);
  return line;
}

test("against worm dev: appends go through its sequencer to consecutive slots; an unreachable sequencer, an oversized entry and a missing log each fail with one clear line", { timeout: 120_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-misuse-log-");
  const dev = procs.start(["dev", "--data-dir", join(dir, "dev"), "--base-port", "0", "--json"]);
  const ready = await dev.waitForJson((l) => l.event === "ready", 60_000);
  const conn = ["--cluster", ready.clusterFile as string];
  const worm = (args: string[], input?: string) => runWorm([...args, ...conn], { deadlineMs: DEADLINE_MS, ...(input !== undefined ? { input } : {}) });
  assert.match(ready.sequencer as string, /^127\.0\.0\.1:\d+$/, "worm dev runs a sequencer and says where");

  // Item 4: consecutive appends land in consecutive slots, not one segment apart.
  ok(await worm(["log", "create", "lg"]), "create");
  const first = Number(ok(await worm(["log", "append", "lg", "--data", "e1"]), "append").stdout.trim());
  const second = Number(ok(await worm(["log", "append", "lg", "--data", "e2"]), "append").stdout.trim());
  assert.deepEqual([first, second], [0, 1]);
  assert.equal(Number(ok(await worm(["log", "tail", "lg"]), "tail").stdout.trim()), 2);
  const read = JSON.parse(ok(await worm(["log", "read", "lg", "--json"]), "read").stdout) as { slots: { slot: number; kind: string }[] };
  assert.deepEqual(read.slots.map((s) => [s.slot, s.kind]), [
    [0, "entry"],
    [1, "entry"],
  ]);
  // The embedded single-writer mode stays, on request; without any sequencer an append is refused.
  const embedded = Number(ok(await worm(["log", "append", "lg", "--data", "e3", "--embedded-sequencer"]), "append --embedded-sequencer").stdout.trim());
  assert.ok(embedded > second);
  const noSequencer = await runWorm(["log", "append", "lg", "--data", "e4", "--peers", (ready.addresses as string[]).join(",")], { deadlineMs: DEADLINE_MS });
  fails(noSequencer, 2, /no sequencer to append through: .*--embedded-sequencer/, "append --peers without a sequencer");

  // Item 5: a sequencer with nothing listening: one line within the timeout.
  const nowhere = `127.0.0.1:${await closedPort()}`;
  for (const args of [
    ["log", "append", "lg", "--data", "x", "--sequencer", nowhere, "--timeout", "1000"],
    ["log", "tail", "lg", "--sequencer", nowhere, "--timeout", "1000"],
  ]) {
    const f = await worm(args);
    fails(f, 1, new RegExp(`^worm: sequencer ${nowhere} unreachable \\(connection refused\\)`), args.slice(0, 2).join(" "));
    assert.ok(f.ms < 8_000, `${args[1]} took ${Math.round(f.ms)} ms`);
  }

  // Item 7: a payload over the slot limit is refused before any round trip (nothing listens there).
  const big = join(dir, "big");
  await writeFile(big, new Uint8Array(10 * 1024 * 1024));
  const offline = ["--peers", `127.0.0.1:${await closedPort()}`, "--sequencer", nowhere];
  const bigFile = await runWorm(["log", "append", "lg", "--data-file", big, ...offline], { deadlineMs: DEADLINE_MS });
  fails(bigFile, 2, new RegExp(`${big} is 10485760 bytes; a log entry holds at most ${LIMITS.valueBytesMax} bytes`), "append --data-file 10 MB");
  const bigLine = await runWorm(["log", "append", "lg", ...offline], { input: `${"x".repeat(LIMITS.valueBytesMax)}\n`, deadlineMs: DEADLINE_MS });
  fails(bigLine, 2, new RegExp(`entry of \\d+ bytes \\(payload ${LIMITS.valueBytesMax}\\) exceeds the ${LIMITS.valueBytesMax} bytes a log slot holds`), "append a 1 MiB stdin line");

  // Item 11 (log parts): a log that does not exist is called a log, and `worm log create` creates it.
  fails(await worm(["log", "read", "nosuch"]), 2, /^worm: no log named nosuch; create it with 'worm log create nosuch'$/, "read nosuch");
  fails(await worm(["log", "read", "nosuch", "0"]), 2, /^worm: no log named nosuch; create it with 'worm log create nosuch'$/, "read nosuch 0");
  fails(await worm(["log", "trim", "nosuchlog", "--below", "1"]), 2, /^worm: no log named nosuchlog; create it with 'worm log create nosuchlog'$/, "trim nosuchlog");
});

test("with 2 of 3 acceptors stopped, every worm log verb gives up within --timeout, naming what did not answer", { timeout: 120_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-misuse-log-");
  const nodes = await startCluster(procs, dir, "noquorum");
  const addresses = addressesOf(nodes);
  const clusterFile = join(dir, "cluster.json");
  await writeFile(clusterFile, JSON.stringify({ clusterId: "noquorum", segmentSize: 4096, acceptors: nodes.map((n, k) => ({ id: n.id, address: addresses[k] })) }));
  const sequencer = procs.start(["log", "sequencer", "--cluster", clusterFile, "--listen", "127.0.0.1:0"]);
  const at = `127.0.0.1:${(await sequencer.waitForJson((l) => l.event === "listening")).port as number}`;
  const worm = (...args: string[]) => runWorm([...args, "--cluster", clusterFile, "--timeout", "500"], { deadlineMs: DEADLINE_MS });
  ok(await worm("log", "create", "lg"), "create");
  ok(await worm("log", "append", "lg", "--data", "e1", "--sequencer", at), "append while all are up");
  await Promise.all([nodes[1]!.proc.kill(), nodes[2]!.proc.kill()]);

  // Either the register layer's account ("acceptor 2 (A), acceptor 3 (B) unreachable (connection
  // refused)") or a log operation's ("unreachable: A (connection refused), B (connection refused)").
  const down = new RegExp(
    [
      `${addresses[1]}\\), acceptor \\d \\(${addresses[2]}\\) unreachable \\(connection refused\\)`,
      `unreachable: .*${addresses[1]} \\(connection refused\\).*${addresses[2]} \\(connection refused\\)`,
      `unreachable: .*${addresses[2]} \\(connection refused\\).*${addresses[1]} \\(connection refused\\)`,
    ].join("|"),
  );
  for (const args of [
    ["log", "append", "lg", "--data", "e3", "--embedded-sequencer"],
    ["log", "append", "lg", "--data", "e3", "--sequencer", at],
    ["log", "tail", "lg"],
    ["log", "read", "lg"],
    ["log", "read", "lg", "0"],
  ]) {
    const f = await worm(...args);
    const line = fails(f, 1, /^worm: /, args.join(" "));
    t.diagnostic(`${args.join(" ")}: ${Math.round(f.ms)} ms: ${line}`);
    assert.ok(f.ms < 8_000, `${args.join(" ")} took ${Math.round(f.ms)} ms`);
    assert.match(line, down, `${args.join(" ")} names the acceptors that did not answer`);
  }
});
