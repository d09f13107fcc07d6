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
import { writeFile } from "node:fs/promises";
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
  assert.match(await ok("inspect"), /GROUP +ACCEPTOR +ADDRESS[\s\S]*g1 +11 /);

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
