/**
 * The example KV with real processes (apps/kv, docs/ARCHITECTURE.md §4.5): three acceptors, `worm kv
 * create` with two partitions, a `worm kv serve` node for each.
 *
 * 1. The verbs as a user runs them: put, get, cas, del, range, txn, status, their JSON, their exit
 *    codes, and the refusals (a transaction across partitions, bad flags) before anything is written.
 * 2. Clients under faults (Jepsen-style): 24 clients put, delete, compare-and-set, get and scan,
 *    and 8 tellers move money between bank accounts, while one node is killed (-9) and restarted
 *    on its store twice, both are paused (SIGSTOP) and resumed, and an acceptor is killed (-9) and
 *    restarted. The history must be
 *    linearizable (verify/spec/kv.ts); every read of the bank totals what it opened with; every
 *    answer must be what the partition's log says (KvObserver, against the logs read back); each
 *    shard must hold what its log says; a watcher of the other partition sees exactly its changes.
 */
import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import type { KvRecord } from "../../apps/kv/core/commands.ts";
import { KvObserver } from "../../apps/kv/core/invariants.ts";
import { decodeTxn } from "../../apps/kv/core/records.ts";
import { MemoryKv, applyTxn } from "../../apps/kv/core/state.ts";
import { KvClient } from "../../apps/kv/node/kv-client.ts";
import { readMap } from "../../apps/kv/node/kv-map.ts";
import { WormLog } from "../../apps/log/node/log-client.ts";
import { HistoryRecorder } from "../../verify/history/history.ts";
import { type KvInput, type KvOutput, checkKvHistory } from "../../verify/spec/kv.ts";
import { Procs, type Worm, addressesOf, client, freeAddresses, restartNode, runWorm, startCluster, tempDir } from "./harness.ts";

const text = new TextDecoder();
const bytes = (s: string) => new TextEncoder().encode(s);

/** Acceptors, a cluster file, a KV of two partitions split at "m", and a node for each. */
async function kvCluster(t: TestContext, id: string) {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-kv-");
  const acceptors = await startCluster(procs, dir, id, 3);
  const cluster = join(dir, "cluster.json");
  await writeFile(cluster, JSON.stringify({ clusterId: id, segmentSize: 64, acceptors: acceptors.map((n, k) => ({ id: n.id, address: addressesOf(acceptors)[k] })) }));
  const nodes = await freeAddresses(2);
  const created = await runWorm(["kv", "create", "--nodes", nodes.join(","), "--split", "m", "--cluster", cluster]);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /^created KV kv, 2 partitions: 0 \[start, "m"\) at 127\.0\.0\.1:\d+, 1 \["m", end\) at 127\.0\.0\.1:\d+ \(epoch 0\)/);
  const serve = async (k: number): Promise<Worm> => {
    const p = procs.start(["kv", "serve", "--partition", String(k), "--data-dir", join(dir, `node${k}`), "--cluster", cluster]);
    const line = await p.waitForJson((l) => l.event === "listening", 30_000);
    assert.equal(line.address, nodes[k]);
    return p;
  };
  const served = [await serve(0), await serve(1)];
  return { procs, dir, cluster, acceptors, nodes, serve, served };
}

test("worm kv: create, serve, put, get, cas, del, range, txn and status as a user runs them; misuse refused before anything is written", { timeout: 150_000 }, async (t) => {
  const { cluster, procs, dir, serve, served } = await kvCluster(t, "kvcli");
  const kv = (...args: string[]) => runWorm(["kv", ...args, "--cluster", cluster]);
  const ok = async (...args: string[]) => {
    const r = await kv(...args);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const json = async (...args: string[]) => JSON.parse(await ok(...args, "--json")) as Record<string, unknown>;

  assert.match(await ok("put", "apple", "red"), /^put apple \(revision 1; previous: none\)\n$/);
  assert.match(await ok("put", "apple", "green"), /^put apple \(revision 2; previous: "red"\)\n$/);
  assert.equal(await ok("put", "pear", "yellow"), "put pear (revision 1; previous: none)\n", "partition 1 counts its own revisions");
  assert.equal(await ok("get", "apple"), "green\n");
  assert.deepEqual((await json("get", "apple")).record, { key: "apple", value: "green", createRevision: 1, modRevision: 2, version: 2 });
  assert.equal(await ok("get", "nothing"), "(none)\n");
  // Compare-and-set: by value, by revision, by absence; a failed one exits 3 and says what is there.
  assert.match(await ok("cas", "apple", "blue", "--expect", "green"), /^set apple \(revision 3\)\n$/);
  const lost = await kv("cas", "apple", "black", "--expect-revision", "2");
  assert.equal(lost.code, 3, lost.stderr);
  assert.match(lost.stderr, /^worm: not set: apple holds "blue" \(modRevision 3\)\n$/);
  assert.equal(await ok("get", "apple"), "blue\n");
  assert.match(await ok("cas", "fig", "purple", "--expect-absent"), /^set fig/);
  // A range across both partitions, in key order; a prefix.
  const all = (await json("range")) as { found: { key: string; value: string }[]; more: boolean };
  assert.deepEqual(all.found.map((r) => [r.key, r.value]), [["apple", "blue"], ["fig", "purple"], ["pear", "yellow"]]);
  assert.equal(all.more, false);
  assert.deepEqual(((await json("range", "--prefix", "p")) as typeof all).found.map((r) => r.key), ["pear"]);
  assert.deepEqual(((await json("range", "--limit", "2")) as typeof all).more, true);
  // A transaction within partition 0, from standard input.
  const txn = '{"if": [{"key": "apple", "value": "blue"}, {"key": "kiwi", "absent": true}], "then": [{"put": {"key": "kiwi", "value": "brown"}}, {"del": {"key": "fig"}}, {"get": {"key": "apple"}}], "else": [{"get": {"key": "kiwi"}}]}';
  const ran = JSON.parse((await runWorm(["kv", "txn", "-", "--json", "--cluster", cluster], { input: txn })).stdout) as { succeeded: boolean; revision: number; responses: unknown[] };
  assert.deepEqual([ran.succeeded, ran.revision, ran.responses.length], [true, 5, 3]);
  assert.equal(await ok("get", "fig"), "(none)\n");
  assert.match(await ok("del", "kiwi"), /^deleted kiwi \(revision 6\)\n$/);
  assert.match(await ok("del", "kiwi"), /^kiwi was not there \(revision 6\)\n$/);

  // Refused before anything is written: a transaction across partitions, flags that do not fit.
  const across = await runWorm(["kv", "txn", "-", "--cluster", cluster], { input: '{"then": [{"put": {"key": "apple", "value": "x"}}, {"put": {"key": "pear", "value": "x"}}]}' });
  assert.equal(across.code, 2, across.stderr);
  assert.match(across.stderr, /spans partitions 0, 1/);
  for (const [args, why] of [
    [["cas", "apple", "x"], /exactly one of --expect/],
    [["put", "", "x"], /non-empty/],
    [["range", "b", "a"], /must sort before/],
    [["range", "a", "--prefix", "a"], /--prefix or FROM/],
  ] as const) {
    const r = await kv(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, why);
  }
  const unknown = await kv("get", "apple", "--kv", "nope");
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^worm: no KV named nope; create it with 'worm kv create --kv nope --nodes HOST:PORT,\.\.\.'\n$/);
  const bad = await runWorm(["kv", "txn", "-", "--cluster", cluster], { input: '{"then": [{"put": {"key": "a"}}]}' });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /then\[0\]\.put\.value must be a string/);
  assert.equal(await ok("get", "apple"), "blue\n", "nothing refused was written");

  // Watch: a prefix's past changes from a revision of its partition, then the new ones as they land.
  const watch = procs.start(["kv", "watch", "--prefix", "ki", "--from-revision", "5", "--json", "--cluster", cluster]);
  await watch.waitForJson((l) => l.key === "kiwi" && l.type === "delete");
  assert.match(await ok("put", "kiwi", "gold"), /revision 7/);
  await watch.waitForJson((l) => l.key === "kiwi" && l.value === "gold");
  assert.deepEqual(
    watch.jsonLines().map((l) => [l.type, l.key, l.revision, l.partition]),
    [
      ["put", "kiwi", 5, 0],
      ["delete", "kiwi", 6, 0],
      ["put", "kiwi", 7, 0],
    ],
  );
  await watch.kill("SIGINT");
  const spans = await kv("watch", "--from-revision", "3");
  assert.equal(spans.code, 2);
  assert.match(spans.stderr, /--from-revision needs a range within one partition/);

  const status = (await json("status")) as { partitions: { partition: number; status: { revision: number; keys: number; applied: number } }[] };
  assert.deepEqual(status.partitions.map((p) => [p.partition, p.status.revision, p.status.keys]), [[0, 7, 2], [1, 1, 1]]);
  assert.ok(status.partitions.every((p) => p.status.applied >= 0));

  // worm inspect shows the KV: its map and each partition's node, against its log's tail.
  const inspected = JSON.parse((await runWorm(["inspect", "--json", "--cluster", cluster])).stdout) as { kvs: { kv: string; mapEpoch: number; partitions: { partition: number; applied: number; tail: number; revision: number; keys: number }[] }[] };
  assert.deepEqual(
    inspected.kvs.map((v) => [v.kv, v.mapEpoch, v.partitions.map((p) => [p.partition, p.revision, p.keys, p.applied === p.tail - 1])]),
    [["kv", 0, [[0, 7, 2, true], [1, 1, 1, true]]]],
  );
  const table = (await runWorm(["inspect", "--cluster", cluster])).stdout;
  assert.match(table, /KV +MAP EPOCH +PARTITION +FROM +NODE[\s\S]*kv +0 +1 +m +127\.0\.0\.1:\d+ +kv-p1 +\d+ +\d+ +0 +1 +1 +up/);

  // A node killed and started again answers a linearizable read at once, with no write after it:
  // its new sequencer sealed the log with fills, which its player carries its shard past.
  await served[1]!.kill("SIGKILL");
  served[1] = await serve(1);
  const again = await kv("get", "pear");
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, "yellow\n");
  assert.ok(again.ms < 10_000, `took ${again.ms} ms`);

  // A node whose data directory is lost is rebuilt on an empty one: it replays its partition's log.
  await served[1]!.kill("SIGKILL");
  await rm(join(dir, "node1"), { recursive: true, force: true });
  served[1] = await serve(1);
  assert.equal((await kv("get", "pear")).stdout, "yellow\n");

  // A node started on another partition's data directory refuses before it serves anything.
  await served[0]!.kill("SIGKILL");
  const mixed = await runWorm(["kv", "serve", "--partition", "1", "--data-dir", join(dir, "node0"), "--cluster", cluster]);
  assert.equal(mixed.code, 2, mixed.stderr);
  assert.match(mixed.stderr, /refusing to start: KV shard store .*node0 holds partition 0 of KV kv \(log kv-p0\), not partition 1 of KV kv \(log kv-p1\): give each node its own data directory/);
});

test("32 KV clients under nodes killed and restarted and paused: linearizable, the bank's total kept, every answer what the log says, every shard what its log holds", { timeout: 170_000 }, async (t) => {
  const { acceptors, procs, serve, served } = await kvCluster(t, "kvfaults");
  const worClient = client(t, addressesOf(acceptors));
  const map = await readMap(worClient, "kv");
  const history = new HistoryRecorder<KvInput, KvOutput>();
  const observer = new KvObserver();
  // Many keys, so that each key's history stays small enough to check; a scan ties "c" and "d".
  const keys = [..."cdefghij", ..."opqrstuv"];
  const outcomes = { ok: 0, failed: 0, unknown: 0 };
  const clients = Array.from({ length: 24 }, () => new KvClient({ map, attemptTimeoutMs: 3_000 }));
  const tellers = Array.from({ length: 8 }, () => new KvClient({ map, attemptTimeoutMs: 3_000 }));
  t.after(() => {
    for (const c of [...clients, ...tellers]) c.close();
  });
  const value = (r: KvRecord | undefined) => (r ? text.decode(r.value) : null);
  let stop = false;
  const pause = () => new Promise((r) => setTimeout(r, 100));
  const run = async (c: KvClient, n: number) => {
    for (let i = 0; !stop; i++) {
      const key = keys[(n * 7 + i * 5) % keys.length]!;
      const v = `c${n}-${i}`;
      const kind = (n + i) % 5;
      const input: KvInput =
        kind === 0 ? { op: "put", key, value: v } : kind === 1 ? { op: "get", key } : kind === 2 ? { op: "delete", key } : kind === 3 ? { op: "txn", expect: [[key, `c${n}-${i - 5}`]], write: [[key, v]] } : { op: "range", from: "c", to: "e" };
      const id = history.invoke(n, input);
      const w =
        input.op === "put"
          ? await c.txn({ compares: [], success: [{ op: "put", key, value: bytes(v) }], failure: [] })
          : input.op === "delete"
            ? await c.txn({ compares: [], success: [{ op: "delete", key }], failure: [] })
            : input.op === "txn"
              ? await c.txn({ compares: [{ key, target: "value", result: "equal", value: bytes(input.expect[0]![1]!) }], success: [{ op: "put", key, value: bytes(v) }], failure: [] })
              : undefined;
      if (w) {
        if (w.ok) {
          outcomes.ok++;
          observer.answered(w.value.partition, w.value.position, w.value.result);
          const x = w.value.result.responses[0];
          const before = x?.op === "put" ? value(x.prev) : x?.op === "delete" ? value(x.deleted[0]?.[1]) : null;
          history.ok(id, input.op === "txn" ? { succeeded: w.value.result.succeeded, before: w.value.result.succeeded ? [before] : [] } : { value: before });
        } else if (w.failure.code === "timeout" || w.failure.code === "unavailable") {
          outcomes.unknown++;
          history.unknown(id);
          await pause(); // a client backs off while its node is down
        } else assert.fail(`${input.op} ${key}: ${w.failure.code}: ${w.failure.message}`);
        continue;
      }
      const r = input.op === "get" ? await c.get(key) : await c.range({ from: "c", to: "e" });
      if (!r.ok) {
        outcomes.failed++;
        history.fail(id); // a read that failed changed nothing
        await pause();
        continue;
      }
      outcomes.ok++;
      history.ok(id, "record" in r.value ? { value: value(r.value.record) } : { found: r.value.found.map(([k, rec]) => [k, text.decode(rec.value)] as const) });
    }
  };
  // A watcher of partition 0 (paused, never restarted) from its first revision: it must see every change its log makes.
  const watcher = new KvClient({ map, attemptTimeoutMs: 3_000 });
  t.after(() => watcher.close());
  const watched: string[] = [];
  const watch = watcher.watch({ from: "", to: "m" }, { from: new Map([[0, 1]]) });
  const watching = (async () => {
    for await (const b of watch) for (const e of b.events) watched.push(`${e.key}@${e.revision}=${e.record ? text.decode(e.record.value) : "-"}`);
  })();
  // The bank, in partition 1 (its node is the one killed): eight accounts of 100; tellers move
  // money between two of them by a transaction that expects both balances; every read of all the
  // accounts (one range: atomic within the partition) must total 800.
  const ACCOUNTS = 8;
  const account = (i: number) => `nbank/${i}`;
  const opened = await tellers[0]!.txn({ compares: [], success: Array.from({ length: ACCOUNTS }, (_, i) => ({ op: "put" as const, key: account(i), value: bytes("100") })), failure: [] });
  assert.ok(opened.ok);
  const bank = { transfers: 0, refused: 0, reads: 0, totals: new Set<number>() };
  const teller = async (c: KvClient, n: number) => {
    for (let i = 0; !stop; i++) {
      const read = await c.range({ from: "nbank/", to: "nbank0" });
      if (!read.ok) {
        await pause();
        continue;
      }
      bank.reads++;
      const balances = read.value.found.map(([, r]) => Number(text.decode(r.value)));
      bank.totals.add(balances.reduce((a, b) => a + b, 0));
      const [from, to] = [(n + i) % ACCOUNTS, (n + 3 * i + 1) % ACCOUNTS];
      if (from === to || balances[from]! === 0) continue;
      const amount = 1 + ((n * 31 + i) % Math.min(10, balances[from]!));
      const moved = await c.txn({
        compares: [from, to].map((a) => ({ key: account(a), target: "value" as const, result: "equal" as const, value: bytes(String(balances[a])) })),
        success: [
          { op: "put", key: account(from), value: bytes(String(balances[from]! - amount)) },
          { op: "put", key: account(to), value: bytes(String(balances[to]! + amount)) },
        ],
        failure: [],
      });
      if (moved.ok && moved.value.result.succeeded) bank.transfers++;
      else bank.refused++;
      if (!moved.ok) await pause();
    }
  };
  const load = [...clients.map((c, n) => run(c, n)), ...tellers.map((c, n) => teller(c, n))];

  // Faults: node 1 killed (-9) and restarted twice and paused once, node 0 (whose watcher must see
  // everything) paused three times; each at its time in the schedule.
  const faults: string[] = [];
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const paused = async (k: number, ms: number) => {
    served[k]!.child.kill("SIGSTOP");
    faults.push(`SIGSTOP node ${k} for ${ms} ms`);
    await wait(ms);
    served[k]!.child.kill("SIGCONT");
  };
  const killed = async (k: number) => {
    await served[k]!.kill("SIGKILL");
    faults.push(`kill -9 node ${k}, restarted`);
    served[k] = await serve(k);
  };
  await wait(1_000);
  await killed(1);
  await wait(500);
  await acceptors[2]!.proc.kill("SIGKILL");
  faults.push("kill -9 acceptor 3");
  await paused(0, 700);
  await wait(300);
  await paused(1, 500);
  await paused(0, 400);
  await wait(500);
  await restartNode(procs, acceptors[2]!, "kvfaults");
  faults.push("acceptor 3 restarted");
  await killed(1);
  await wait(300);
  await paused(0, 800);
  await wait(1_000);
  stop = true;
  await Promise.all(load);
  t.diagnostic(`kv faults: ${faults.join("; ")}; bank: ${bank.transfers} transfers, ${bank.refused} refused or unknown, ${bank.reads} reads`);
  assert.deepEqual([...bank.totals], [800], "every read of the bank totals 800");
  assert.ok(bank.transfers > 10, `only ${bank.transfers} transfers`);

  for (const [k, p] of served.entries()) if (!p.running) t.diagnostic(`node ${k} exited: ${p.stderr.slice(-2_000)}`);
  const verdict = checkKvHistory(history.operations(), { stepsMax: 20_000_000 });
  t.diagnostic(`kv clients: ${history.operations().length} operations, outcomes ${JSON.stringify(outcomes)}`);
  assert.ok(verdict.ok, JSON.stringify(verdict));
  assert.ok(outcomes.ok > 100, `only ${outcomes.ok} operations succeeded`);

  // Every answer and each shard's state against its partition's log, read back.
  for (const p of map.partitions) {
    const log = new WormLog({ client: worClient, log: p.log });
    const tail = await log.tail();
    const entries = await log.readRange(0, tail);
    for (const e of entries) observer.logged(p.id, e.slot, e.kind === "entry" ? txnOf(e.entry.payload) : undefined);
    if (p.id === 0) {
      // The changes the log makes, replayed, are what the watcher saw, in order.
      const kv = new MemoryKv();
      let revision = 0;
      const changes: string[] = [];
      const tracked = {
        get: (k: string) => kv.get(k),
        range: kv.range.bind(kv),
        set: (k: string, r: KvRecord | undefined) => {
          kv.set(k, r);
          changes.push(`${k}|${r ? text.decode(r.value) : "-"}`);
        },
      };
      for (const e of entries) {
        const txn = e.kind === "entry" ? txnOf(e.entry.payload) : undefined;
        if (!txn) continue;
        const before = changes.length;
        revision = applyTxn(tracked, revision, txn).revision;
        for (let i = before; i < changes.length; i++) changes[i] = changes[i]!.replace("|", `@${revision}=`);
      }
      for (let waited = 0; watched.length < changes.length && waited < 50; waited++) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(watched, changes);
      await watch.return?.();
      await watching;
    }
    // Once the shard has applied the whole log, what it holds against the log's replay.
    const c = clients[0]!;
    let s = (await c.status())[p.id]!;
    for (let waited = 0; s.ok && s.value.applied < tail - 1 && waited < 100; waited++) {
      await new Promise((r) => setTimeout(r, 100));
      s = (await c.status())[p.id]!;
    }
    assert.ok(s.ok && s.value.applied === tail - 1, `partition ${p.id}: applied ${s.ok ? s.value.applied : s.failure.message}, tail ${tail}`);
    const found = await c.range(p.id === 0 ? { from: "", to: "m" } : { from: "m" }, { stale: true });
    assert.ok(found.ok);
    observer.shardHolds(p.id, "node", s.value.applied, s.value.revision, found.value.found);
  }
  assert.deepEqual(observer.violations, []);
  assert.equal(observer.waiting(), 0);
});

function txnOf(payload: Uint8Array) {
  const t = decodeTxn(payload);
  return "_tag" in t ? undefined : t;
}
