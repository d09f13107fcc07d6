/**
 * Acceptor groups from the command line (docs/ARCHITECTURE.md §3.6), every acceptor a real process:
 * a cluster file with the main group and group g1; `worm space create --group g1` and `worm log
 * create --group g1` place spaces on g1, `worm log create --stripe main,g1` stripes one over both; reads, writes and appends reach them; `worm space list`
 * `worm cluster groups|show --group g1` and `worm inspect` say where things are; the main group's majority killed,
 * the CLI (a new client each time) can no longer place a space (a client that opened it before goes
 * on: test/wor/groups.test.ts);
 * misuse is refused before anything is written.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { Procs, addressesOf, runWorm, startCluster, startNode, tempDir } from "./harness.ts";

test("spaces placed on a group from the CLI: created, written, listed, shown; misuse refused", { timeout: 120_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-groups-");
  const main = await startCluster(procs, dir, "grp");
  const g1 = await Promise.all([11, 12, 13].map((id) => startNode(procs, { id, dataDir: join(dir, `g${id}`), clusterId: "grp" })));
  const clusterFile = join(dir, "cluster.json");
  const entries = (nodes: typeof main) => nodes.map((n, k) => ({ id: n.id, address: addressesOf(nodes)[k] }));
  await writeFile(clusterFile, JSON.stringify({ clusterId: "grp", segmentSize: 64, acceptors: entries(main), groups: { g1: { acceptors: entries(g1) } } }));
  const worm = async (...args: string[]) => runWorm([...args, "--cluster", clusterFile]);
  const ok = async (...args: string[]) => {
    const r = await worm(...args);
    assert.equal(r.code, 0, `worm ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };

  assert.deepEqual(JSON.parse(await ok("space", "create", "regs", "--group", "g1", "--json")), { name: "regs", result: "Created", kind: "registers", segmentSize: 64, group: "g1" });
  await ok("log", "create", "events", "--group", "g1");
  assert.deepEqual(JSON.parse(await ok("log", "create", "wide", "--stripe", "main,g1", "--json")).stripe, ["main", "g1"]);
  await ok("wor", "write", "regs", "3", "--value", "three");
  for (const n of ["a", "b", "c"]) await ok("log", "append", "events", "--data", n, "--embedded-sequencer");
  // Each embedded sequencer starts a new segment: the entries of the striped log alternate between the groups.
  for (const n of ["x", "y", "z"]) await ok("log", "append", "wide", "--data", n, "--embedded-sequencer");
  assert.match(await ok("log", "read", "wide"), /"x"[\s\S]*"y"[\s\S]*"z"/);
  const read = JSON.parse(await ok("wor", "read", "regs", "3", "--json")) as { results: { value?: { text: string } }[] };
  assert.equal(read.results[0]?.value?.text, "three");
  assert.match(await ok("log", "read", "events"), /"a"[\s\S]*"b"[\s\S]*"c"/);

  const listed = JSON.parse(await ok("space", "list", "--json")) as { spaces: { name: string; group: string; segments: { count: number } }[] };
  assert.deepEqual(
    listed.spaces.filter((s) => ["regs", "events", "wide"].includes(s.name)).map((s) => [s.name, s.group, s.segments.count > 0]),
    [
      ["events", "g1", true],
      ["regs", "g1", true],
      ["wide", "main+g1", true],
    ],
  );
  const groups = JSON.parse(await ok("cluster", "groups", "--json")) as { groups: { group: string; epoch: number; quorum: number; answering: number }[] };
  assert.deepEqual(groups.groups.map((g) => [g.group, g.epoch, g.quorum, g.answering]), [
    ["main", 0, 2, 3],
    ["g1", 0, 2, 3],
  ]);
  const shown = JSON.parse(await ok("cluster", "show", "--group", "g1", "--json")) as { group: string; acceptors: { id: number; state: string }[] };
  assert.deepEqual([shown.group, shown.acceptors.map((a) => [a.id, a.state])], ["g1", [11, 12, 13].map((id) => [id, "serving"])]);

  // worm inspect: every group's acceptors; a placed space's addresses from its group's.
  const inspected = JSON.parse(await ok("inspect", "--json")) as { acceptors: { group: string; status?: { acceptorId: number } }[]; segments: { space: string; segment: number; servedBy: { group: string; epoch: number } }[] };
  const wideSegments = inspected.segments.filter((x) => x.space === "wide" && x.segment < 3);
  assert.deepEqual(wideSegments.map((x) => [x.segment, x.servedBy.group, x.servedBy.epoch]), [[0, "main", 0], [1, "g1", 0], [2, "main", 0]], "which configuration serves each segment");
  assert.deepEqual(inspected.acceptors.map((a) => [a.group, a.status?.acceptorId]), [["main", 1], ["main", 2], ["main", 3], ["g1", 11], ["g1", 12], ["g1", 13]]);
  const regs = JSON.parse(await ok("inspect", "--space", "regs", "--json")) as { addresses: { byAcceptor: { address: string; addresses: { index: number }[] }[] } };
  assert.deepEqual(regs.addresses.byAcceptor.map((a) => [a.address, a.addresses.map((x) => x.index)]), addressesOf(g1).map((address) => [address, [3]]));
  const table = await ok("inspect");
  assert.match(table, /^cluster [^:]+: 6 acceptors in 2 groups \(main: 3, quorum 2; g1: 3, quorum 2\), default segment size/);
  assert.match(table, /GROUP +ACCEPTOR +ADDRESS[\s\S]*g1 +11 /);

  // Misuse: an unknown group, the same space on another group, a group given to a client without groups.
  const unknown = await worm("space", "create", "x", "--group", "g9");
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--group g9: the cluster file names no such group \(its groups: main, g1\)/);
  const elsewhere = await worm("space", "create", "regs", "--group", "main");
  assert.equal(elsewhere.code, 2);
  assert.match(elsewhere.stderr, /space regs already exists on group g1, not on group main/);
  const both = await worm("log", "create", "y", "--group", "g1", "--stripe", "main,g1");
  assert.equal(both.code, 2);
  assert.match(both.stderr, /give --group or --stripe, not both/);
  assert.equal((await worm("cluster", "show", "--group", "g9")).code, 2);

  // The main group's majority dies: the CLI (a new client each time) cannot learn where regs lives.
  for (const n of [main[1]!, main[2]!]) await n.proc.kill("SIGKILL");
  const stuck = await runWorm(["wor", "read", "regs", "3", "--cluster", clusterFile, "--timeout", "1500"]);
  assert.equal(stuck.code, 1, stuck.stderr);
});

test("worm dev --groups 1: a group beside the main one, its logs appended through the dev sequencer; a restart must name the groups again", { timeout: 120_000 }, async (t) => {
  const procs = new Procs(t);
  const dataDir = join(await tempDir(t, "worm-devgroups-"), "dev");
  const dev = procs.start(["dev", "--groups", "1", "--data-dir", dataDir, "--base-port", "0", "--json"]);
  const ready = await dev.waitForJson((l) => l.event === "ready", 60_000);
  const groups = ready.groups as { name: string; addresses: string[] }[];
  assert.deepEqual(groups.map((g) => [g.name, g.addresses.length]), [["g1", 3]]);
  assert.equal(dev.jsonLines().filter((l) => l.event === "listening").length, 6);
  const clusterFile = ready.clusterFile as string;
  const file = JSON.parse(await readFile(clusterFile, "utf8")) as { groups: Record<string, { acceptors: { id: number; address: string }[] }> };
  assert.deepEqual(file.groups.g1?.acceptors.map((a) => [a.id, a.address]), [101, 102, 103].map((id, k) => [id, groups[0]!.addresses[k]]));
  for (const args of [["log", "create", "clicks", "--group", "g1"], ["log", "append", "clicks", "--data", "one"], ["log", "append", "clicks", "--data", "two"]]) {
    const r = await runWorm([...args, "--cluster", clusterFile]);
    assert.equal(r.code, 0, `worm ${args.join(" ")}: ${r.stderr}`);
  }
  const read = await runWorm(["log", "read", "clicks", "--cluster", clusterFile]);
  assert.match(read.stdout, /^0 +entry .*"one"\n1 +entry .*"two"/m);
  const stopped = await dev.kill("SIGTERM");
  assert.equal(stopped.code, 0, stopped.stderr);
  const again = await runWorm(["dev", "--data-dir", dataDir, "--base-port", "0"]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /holds a cluster with 1 group besides the main one; run with --groups 1/);
});
