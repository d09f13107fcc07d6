/**
 * The example KV with real processes under faults (apps/kv, docs/ARCHITECTURE.md §4.5; the verbs as
 * a user runs them: kv-cli.test.ts), Jepsen-style: three acceptors, a KV of two partitions, a node
 * for each. 24 clients put, delete, compare-and-set, write two keys of both partitions at once, get
 * and scan, and 8 tellers move money between bank accounts of both partitions and audit them (a
 * transaction across both that expects every balance read), while one node is killed (-9) and
 * restarted on its store twice, both are paused (SIGSTOP) and resumed, and an acceptor is killed
 * (-9) and restarted. Again with both nodes in one process (`worm kv serve` of both, over one
 * client to the acceptors): that process killed and restarted twice and paused three times. Again
 * while partition 1 moves (`worm kv move`) to a standby (`worm kv serve --listen`), its old node
 * paused across the move and resumed, a zombie, then killed (its log writer gives way to the new
 * node's, so a writer of the old epoch that does not, as an older version would not, appends a batch
 * after the owner entry, which every shard must apply as nothing); the new node killed and restarted. The
 * history must be linearizable (verify/spec/kv.ts); every audit that commits totals what the bank
 * opened with, and so do the balances at the end; every answer must be what the partition's log
 * says (KvObserver, against the logs read back); each shard must hold what its log says; a watcher
 * of both partitions from their first revision, following them across the kills, restarts and the
 * move, sees exactly the changes each log makes, each once, in order.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import type { KvRecord } from "../../apps/kv/core/commands.ts";
import { KvObserver } from "../../apps/kv/core/invariants.ts";
import { decodeEntry, encodeBatch, encodeTxn } from "../../apps/kv/core/records.ts";
import { DecodeError } from "../../apps/log/core/bytes.ts";
import { EMPTY_KV_IMAGE, KvShardState } from "../../apps/kv/core/shard-state.ts";
import { KvClient } from "../../apps/kv/node/kv-client.ts";
import { isKvTraceLine } from "../../apps/kv/node/kv-trace.ts";
import { readMap } from "../../apps/kv/node/kv-map.ts";
import { watchMaps } from "../../apps/kv/node/map-watch.ts";
import { WormLog } from "../../apps/log/node/log-client.ts";
import { SequencerNode } from "../../apps/log/node/sequencer-node.ts";
import { HistoryRecorder } from "../../verify/history/history.ts";
import { type KvInput, type KvOutput, checkKvHistory } from "../../verify/spec/kv.ts";
import { addressesOf, client, restartNode, runWorm } from "./harness.ts";
import { stableAddresses } from "../ports.ts";
import { kvCluster } from "./kv-cluster.ts";

const text = new TextDecoder();
const bytes = (s: string) => new TextEncoder().encode(s);

test("32 KV clients under nodes killed and restarted and paused: linearizable, the bank's total kept, every answer what the log says, every shard what its log holds", { timeout: 170_000 }, (t) =>
  underFaults(t, "a process each"),
);

test("the same with both nodes in one process, killed and restarted and paused", { timeout: 170_000 }, (t) => underFaults(t, "one process"));

test("the same while partition 1 moves to a standby, its old node paused across the move and resumed (a zombie), the new node killed and restarted", { timeout: 170_000 }, (t) => underFaults(t, "a move"));

type Shape = "a process each" | "one process" | "a move";

async function underFaults(t: TestContext, shape: Shape): Promise<void> {
  const { acceptors, procs, serve, serveBoth, served, lives, dir, cluster } = await kvCluster(t, "kvfaults", { serveEach: shape !== "one process" });
  if (shape === "one process") {
    const both = await serveBoth();
    served.push(both, both);
  }
  const worClient = client(t, addressesOf(acceptors));
  const map = await readMap(worClient, "kv");
  // Clients follow a move: they read the map again when a node refuses or does not answer,
  const refreshMap = () => readMap(worClient, "kv");
  const history = new HistoryRecorder<KvInput, KvOutput>();
  const observer = new KvObserver();
  // Many keys, so that each key's history stays small enough to check; a scan ties "c" and "d".
  const keys = [..."cdefghij", ..."opqrstuv"];
  const outcomes = { ok: 0, failed: 0, unknown: 0, across: 0 };
  const clients = Array.from({ length: 24 }, () => new KvClient({ map, refreshMap, attemptTimeoutMs: 3_000 }));
  const tellers = Array.from({ length: 8 }, () => new KvClient({ map, refreshMap, attemptTimeoutMs: 3_000 }));
  // And they hear of a move as it is chosen (a watch of the chain of maps): a request stuck at a
  // paused old node goes to the new one at once.
  const maps = watchMaps(worClient, "kv", map, (m) => {
    for (const c of [...clients, ...tellers]) c.adopt(m);
    return false;
  });
  t.after(async () => {
    await maps.close();
    for (const c of [...clients, ...tellers]) c.close();
  });
  const value = (r: KvRecord | undefined) => (r ? text.decode(r.value) : null);
  let stop = false;
  const pause = () => new Promise((r) => setTimeout(r, 100));
  const run = async (c: KvClient, n: number) => {
    for (let i = 0; !stop; i++) {
      const key = keys[(n * 7 + i * 5) % keys.length]!;
      const v = `c${n}-${i}`;
      // Its partner in the other partition: a write of both goes across partitions (one op in 12).
      // Not for the keys the scan ties together (c, d and their partners o, p): a component that
      // large is too slow to check; and not more often: such a write answers no values before it,
      // so the checker has less to place it by.
      const partner = keys[(keys.indexOf(key) + 8) % keys.length]!;
      const kind = (n + i) % 6 === 4 && ("cdop".includes(key) || (n + i) % 12 !== 4) ? 0 : (n + i) % 6;
      const input: KvInput =
        kind === 0
          ? { op: "put", key, value: v }
          : kind === 1
            ? { op: "get", key }
            : kind === 2
              ? { op: "delete", key }
              : kind === 3
                ? { op: "txn", expect: [[key, `c${n}-${i - 6}`]], write: [[key, v]] }
                : kind === 4
                  ? { op: "txn", expect: [], write: [[key, v], [partner, v]] }
                  : { op: "range", from: "c", to: "e" };
      const id = history.invoke(n, input);
      const w =
        input.op === "put"
          ? await c.txn({ compares: [], success: [{ op: "put", key, value: bytes(v) }], failure: [] })
          : input.op === "delete"
            ? await c.txn({ compares: [], success: [{ op: "delete", key }], failure: [] })
            : input.op === "txn"
              ? await c.txn({
                  compares: input.expect.map(([k, x]) => ({ key: k, target: "value" as const, result: "equal" as const, value: bytes(x!) })),
                  success: input.write.map(([k, x]) => ({ op: "put" as const, key: k, value: bytes(x!) })),
                  failure: [],
                })
              : undefined;
      if (w) {
        if (w.ok && w.value.across) {
          outcomes.ok++;
          outcomes.across++;
          history.ok(id, { succeeded: w.value.result.succeeded });
        } else if (w.ok) {
          outcomes.ok++;
          observer.answered(w.value.partition, w.value.position, w.value.result, "a node", { client: c.clientId, seq: w.value.seq });
          const x = w.value.result.responses[0];
          const before = x?.op === "put" ? value(x.prev) : x?.op === "delete" ? value(x.deleted[0]?.[1]) : null;
          history.ok(id, input.op === "txn" ? { succeeded: w.value.result.succeeded, before: w.value.result.succeeded ? [before] : [] } : { value: before });
        } else if (w.failure.code === "timeout" || w.failure.code === "unavailable") {
          outcomes.unknown++;
          history.unknown(id);
          await pause(); // a client backs off while its node is down
        } else if (w.failure.code === "aborted") {
          outcomes.failed++;
          history.fail(id); // aborted across partitions: nothing was written
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
  // A watcher of both partitions from their first revisions, following them to the nodes that
  // restart or take over (a node's restart takes seconds under this load): it must see every
  // change each log makes, once, in order.
  const watcher = new KvClient({ map, refreshMap, attemptTimeoutMs: 3_000 });
  t.after(() => watcher.close());
  const watched: string[][] = [[], []];
  const resumed: string[] = [];
  const watch = watcher.watch({ from: "" }, { from: new Map([[0, 1], [1, 1]]), follow: { retryForMs: 60_000, onResumed: (r) => resumed.push(`partition ${r.partition} at ${r.node} from revision ${r.fromRevision}`) } });
  const watching = (async () => {
    for await (const b of watch) for (const e of b.events) watched[b.partition]!.push(`${e.key}@${e.revision}=${e.record ? text.decode(e.record.value) : "-"}`);
  })();
  // The bank, across both partitions: eight accounts of 100, four in each. Tellers move money
  // between two of them by a transaction that expects both balances (across partitions, or within
  // one), and audit: a transaction across both that expects every balance they read and writes
  // nothing, so that one that commits saw one state of the bank, which must total 800.
  const ACCOUNTS = 8;
  const account = (i: number) => (i < ACCOUNTS / 2 ? `bank/${i}` : `nbank/${i}`);
  const opened = await tellers[0]!.txn({ compares: [], success: Array.from({ length: ACCOUNTS }, (_, i) => ({ op: "put" as const, key: account(i), value: bytes("100") })), failure: [] });
  assert.ok(opened.ok && opened.value.result.succeeded && opened.value.across, JSON.stringify(opened));
  const bank = { transfers: 0, across: 0, refused: 0, audits: 0, totals: new Set<number>() };
  const balancesOf = async (c: KvClient): Promise<number[] | undefined> => {
    const parts = [await c.range({ from: "bank/", to: "bank0" }), await c.range({ from: "nbank/", to: "nbank0" })];
    if (!parts.every((r) => r.ok)) return undefined;
    return parts.flatMap((r) => (r.ok ? r.value.found.map(([, rec]) => Number(text.decode(rec.value))) : []));
  };
  const expectAll = (balances: readonly number[]) => balances.map((b, a) => ({ key: account(a), target: "value" as const, result: "equal" as const, value: bytes(String(b)) }));
  // While `still`, the other tellers rest and teller 0 audits alone: with seven tellers moving
  // money, an audit's reads are rarely all still current when its transaction runs.
  let still = false;
  const teller = async (c: KvClient, n: number) => {
    for (let i = 0; !stop; i++) {
      if (still && n !== 0) {
        await pause();
        continue;
      }
      const balances = await balancesOf(c);
      if (!balances) {
        await pause();
        continue;
      }
      // Teller 0 audits; the others now and then.
      if (n === 0 || i % 3 === 2) {
        const audit = await c.txn({ compares: expectAll(balances), success: [], failure: [] });
        if (audit.ok && audit.value.result.succeeded) {
          bank.audits++;
          bank.totals.add(balances.reduce((a, b) => a + b, 0));
        }
        if (n === 0 && !still) await pause(); // an audit locks every account: leave the transfers room
        continue;
      }
      const [from, to] = [(n + i) % ACCOUNTS, (n + 3 * i + 1) % ACCOUNTS];
      if (from === to || balances[from]! === 0) continue;
      const amount = 1 + ((n * 31 + i) % Math.min(10, balances[from]!));
      const moved = await c.txn({
        compares: expectAll(balances).filter((_, a) => a === from || a === to),
        success: [
          { op: "put", key: account(from), value: bytes(String(balances[from]! - amount)) },
          { op: "put", key: account(to), value: bytes(String(balances[to]! + amount)) },
        ],
        failure: [],
      });
      if (moved.ok && moved.value.result.succeeded) {
        bank.transfers++;
        if (moved.value.across) bank.across++;
      } else bank.refused++;
      if (!moved.ok) await pause();
    }
  };
  const load = [...clients.map((c, n) => run(c, n)), ...tellers.map((c, n) => teller(c, n))];

  // Faults: node 1 killed (-9) and restarted twice and paused once, node 0 paused three times; each
  // at its time in the schedule. With both in one process, each fault is that process's.
  const faults: string[] = [];
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const named = (k: number) => (shape === "one process" ? "the nodes' process" : `node ${k}`);
  const paused = async (k: number, ms: number) => {
    served[k]!.child.kill("SIGSTOP");
    faults.push(`SIGSTOP ${named(k)} for ${ms} ms`);
    await wait(ms);
    served[k]!.child.kill("SIGCONT");
  };
  // Partition 1's node after the move: its standby at a new address, on a store of its own.
  let there = "";
  const serveMoved = async (event: string) => {
    const p = procs.start(["kv", "serve", "--partition", "1", "--data-dir", join(dir, "node1-moved"), "--listen", there, "--cluster", cluster], { env: { WORM_KV_TRACE: "1" } });
    lives.push({ partition: 1, proc: p });
    await p.waitForJson((l) => l.event === event, 30_000);
    return p;
  };
  /** A standby for partition 1; node 1 paused; the move; the standby serves; node 1 resumed, a zombie until it hears. */
  const moveUnderLoad = async () => {
    [there] = (await stableAddresses(1)) as [string];
    const standby = await serveMoved("listening");
    await wait(300);
    served[1]!.child.kill("SIGSTOP");
    const moved = await runWorm(["kv", "move", "--partition", "1", "--to", there, "--cluster", cluster]);
    assert.equal(moved.code, 0, moved.stderr);
    await standby.waitForJson((l) => l.event === "serving", 30_000);
    faults.push("SIGSTOP node 1, partition 1 moved to its standby, which serves");
    await wait(800);
    served[1]!.child.kill("SIGCONT");
    await served[1]!.waitForJson((l) => l.event === "moved", 30_000);
    faults.push("SIGCONT node 1: it heard it moved");
    // A writer of the old epoch that does not give way (as an older version of the node would not):
    // it takes the log back from the new node and appends a batch of map epoch 0 after the owner
    // entry, putting a value no client writes. Every shard must apply it as nothing.
    const sequencer = new SequencerNode({ client: worClient, owner: "e2e-old-epoch-writer" });
    const zombie = new WormLog({ client: worClient, log: map.partitions[1]!.log, tokens: sequencer });
    const late = encodeBatch(0, [{ client: "e2e-zombie", seq: 0, ackedBelow: 0, txn: encodeTxn({ compares: [], success: [{ op: "put", key: "q", value: new TextEncoder().encode("zombie") }], failure: [] }) }]);
    const { slot } = await zombie.append(late, { key: { client: "e2e-zombie", seq: 0 } });
    sequencer.close();
    faults.push(`a writer of map epoch 0 appended a batch at slot ${slot}`);
    // The old node stays (a zombie until killed at the end); node 1 is the new one from now on.
    served.push(served[1]!);
    served[1] = standby;
  };
  const killed = async (k: number) => {
    await served[k]!.kill("SIGKILL");
    faults.push(`kill -9 ${named(k)}, restarted`);
    if (shape === "a move" && k === 1) served[1] = await serveMoved("listening");
    else if (shape === "one process") {
      const both = await serveBoth();
      served.splice(0, 2, both, both);
    } else served[k] = await serve(k);
  };
  await wait(1_000);
  if (shape === "a move") await moveUnderLoad();
  else await killed(1);
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
  if (shape === "a move") {
    await served[2]!.kill("SIGKILL");
    faults.push("kill -9 the old node 1");
  }
  await wait(300);
  await paused(0, 800);
  still = true; // after a node's restart and a pause: audits, alone
  await wait(1_000);
  still = false;
  await wait(500);
  stop = true;
  await Promise.all(load);
  // The history, kept to check again apart (KV_DUMP=FILE; and always when it fails the check).
  const keep = (file: string) => writeFileSync(file, JSON.stringify(history.operations()));
  if (process.env.KV_DUMP) keep(process.env.KV_DUMP);
  t.diagnostic(`kv faults: ${faults.join("; ")}; bank: ${bank.transfers} transfers (${bank.across} across partitions), ${bank.refused} refused, aborted or unknown, ${bank.audits} audits committed`);
  assert.deepEqual([...bank.totals], [800], "every audit that committed totals 800");
  assert.ok(bank.transfers > 10 && bank.across > 5 && bank.audits > 0, JSON.stringify(bank));
  let closing: number[] | undefined;
  for (let tries = 0; !closing && tries < 50; tries++) closing = await balancesOf(tellers[0]!);
  assert.equal(closing?.reduce((a, b) => a + b, 0), 800, `the bank at the end: ${JSON.stringify(closing)}`);

  const untraced = (stderr: string) => stderr.split("\n").filter((l) => !isKvTraceLine(l)).join("\n");
  for (const [k, p] of served.entries()) if (!p.running) t.diagnostic(`node ${k} exited: ${untraced(p.stderr).slice(-2_000)}`);
  const verdict = checkKvHistory(history.operations(), { stepsMax: 40_000_000 });
  t.diagnostic(`kv clients: ${history.operations().length} operations, outcomes ${JSON.stringify(outcomes)}`);
  if (!verdict.ok) {
    const file = join(tmpdir(), `worm-kv-history-${Date.now()}.json`);
    keep(file);
    // Each node's trace beside it: what it admitted, voted, decided, appended and released, when.
    for (const [n, l] of lives.entries()) writeFileSync(`${file}.node${l.partition}.life${n}.log`, l.proc.stderr);
    assert.fail(`${JSON.stringify(verdict).slice(0, 2_000)} (the history: ${file})`);
  }
  assert.ok(outcomes.ok > 100 && outcomes.across > 5, `only ${outcomes.ok} operations succeeded (${outcomes.across} across partitions)`);

  // Every answer and each shard's state against its partition's log, read back, at the nodes of the newest map.
  const auditor = new KvClient({ map: await readMap(worClient, "kv"), attemptTimeoutMs: 3_000 });
  t.after(() => auditor.close());
  for (const p of map.partitions) {
    const log = new WormLog({ client: worClient, log: p.log });
    const tail = await log.tail();
    const entries = await log.readRange(0, tail);
    let owner = 0;
    let superseded = 0;
    for (const e of entries) {
      const entry = e.kind === "entry" ? entryOf(e.entry.payload) : undefined;
      observer.logged(p.id, e.slot, entry);
      if (entry?.kind === "owner") owner = Math.max(owner, entry.owner.epoch);
      else if ((entry?.kind === "batch" || entry?.kind === "commit") && entry.epoch < owner) superseded++;
    }
    if (owner > 0) t.diagnostic(`partition ${p.id}: map epoch ${owner} in its log; ${superseded} entries of an older epoch after its owner entry (applied as nothing)`);
    if (shape === "a move" && p.id === 1) assert.ok(superseded >= 1, "the old-epoch writer's batch is in the log after the owner entry");
    {
      // The changes the log makes, applied as a shard applies them (each batched transaction and
      // each commit entry once), are what the watcher saw, in order.
      const replay = new KvShardState(EMPTY_KV_IMAGE);
      const changes: string[] = [];
      replay.stage(
        entries.map((e) => ({ position: e.slot, data: e.kind === "entry" ? e.entry.payload : new Uint8Array(0) })),
        (a) => changes.push(...a.changes.map(([k, r]) => `${k}@${a.result.revision}=${r ? text.decode(r.value) : "-"}`)),
      );
      const seen = watched[p.id]!;
      for (let waited = 0; seen.length < changes.length && waited < 50; waited++) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(seen, changes, `partition ${p.id}'s watcher (resumed: ${resumed.join("; ")})`);
    }
    // Once the shard has applied the whole log, what it holds against the log's replay.
    const c = auditor;
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
  t.diagnostic(`the watcher: ${watched.map((w, k) => `partition ${k} ${w.length} changes`).join(", ")}; resumed ${resumed.length} times: ${resumed.join("; ")}`);
  await watch.return?.();
  await watching;
  assert.deepEqual(observer.violations, []);
  assert.equal(observer.waiting(), 0);
}

function entryOf(payload: Uint8Array) {
  const e = decodeEntry(payload);
  return e instanceof DecodeError ? undefined : e;
}
