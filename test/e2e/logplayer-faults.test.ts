/**
 * LogPlayer with every party a real process but the appender: three acceptors (`worm node`), two
 * shards (`worm shard serve`) and players (`worm logplayer run`), while the test appends to the log
 * under load. The player is killed (SIGKILL) and replaced, a shard is killed and restarted on its
 * store, an acceptor is killed under load and restarted on its data directory, and a player is frozen (SIGSTOP) while a new one takes over, then thawed (SIGCONT): the
 * zombie is fenced and exits 3. Afterwards every shard's rows are exactly the log's entries routed
 * to it, in order, nothing twice and nothing missing; the log is trimmed below what both applied.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { shardOf } from "../../apps/logplayer/core/items.ts";
import { ShardLinks } from "../../apps/logplayer/node/shard-link.ts";
import { WormLog } from "../../apps/log/node/log-client.ts";
import { SequencerNode } from "../../apps/log/node/sequencer-node.ts";
import { Procs, addressesOf, client, oneLineError, restartNode, runWorm, startCluster, tempDir, text } from "./harness.ts";
import { stablePorts } from "../ports.ts";

const SHARDS = 2;

test("LogPlayer delivers the log exactly once through player, shard and acceptor crashes and a zombie player", { timeout: 150_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-lp-");
  const nodes = await startCluster(procs, dir, "lp");
  const addresses = addressesOf(nodes);
  const peers = ["--peers", addresses.join(",")];
  assert.equal((await runWorm(["log", "create", "wal", ...peers])).code, 0);

  const shard = async (i: number, port?: number) => {
    const p = procs.start(["shard", "serve", "--dir", join(dir, `s${i}`), "--listen", `127.0.0.1:${port ?? (await stablePorts(1))[0]}`]);
    return { proc: p, port: (await p.waitForJson((l) => l.event === "listening", 60_000)).port as number };
  };
  const shards = await Promise.all([shard(0), shard(1)]);
  const shardList = shards.map((s) => `127.0.0.1:${s.port}`);
  const player = async () => {
    const p = procs.start(["logplayer", "run", "--log", "wal", "--shards", shardList.join(","), "--trim-every", "40", ...peers]);
    const line = await p.waitForJson((l) => l.event === "playing", 60_000);
    return { proc: p, epoch: line.epoch as number };
  };

  const c = client(t, addresses);
  const sequencer = new SequencerNode({ client: c, owner: "e2e-appender" });
  t.after(() => sequencer.close());
  const log = new WormLog({ client: c, log: "wal", tokens: sequencer });
  /** slot → payload of everything appended. */
  const appended = new Map<number, string>();
  let n = 0;
  const append = async (count: number) => {
    for (let k = 0; k < count; k += 10) {
      await Promise.all(
        Array.from({ length: Math.min(10, count - k) }, async () => {
          const payload = `e${n++}`;
          appended.set((await log.append(text(payload))).slot, payload);
        }),
      );
    }
  };

  const p1 = await player();
  assert.equal(p1.epoch, 1);
  const load = append(120);
  await new Promise((r) => setTimeout(r, 500));
  await p1.proc.kill("SIGKILL");
  await load;
  const p2 = await player();
  assert.equal(p2.epoch, 2, "the new player claims the next epoch");

  const more = append(120);
  await new Promise((r) => setTimeout(r, 300));
  await shards[1]!.proc.kill("SIGKILL");
  await more;
  shards[1] = await shard(1, shards[1]!.port);
  await p2.proc.waitForJson((l) => l.event === "problem" && /^lost the stream to shard 127\.0\.0\.1:\d+ \(.+\); reconnecting$/.test(String(l.message)));

  // kill -9 of an acceptor under load: the other two carry the appends, the player's reads and its
  // trims; the acceptor restarts on its data directory and port.
  const underLoad = append(120);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal((await nodes[0]!.proc.kill("SIGKILL")).signal, "SIGKILL");
  await underLoad;
  await append(40);
  await restartNode(procs, nodes[0]!, "lp");

  // A zombie: p2 frozen, p3 takes over, p2 thawed while the log grows.
  p2.proc.child.kill("SIGSTOP");
  const p3 = await player();
  assert.equal(p3.epoch, 3);
  await append(60);
  p2.proc.child.kill("SIGCONT");
  await append(60);
  const zombie = await p2.proc.exited;
  assert.equal(zombie.code, 3, zombie.stderr);
  assert.match(zombie.stderr, /^worm: fenced: shard 127\.0\.0\.1:\d+ serves epoch 3 of player group wal-player, a newer player took over\n$/);

  // Every shard applies up to the last slot appended (watermarks carry the one without the last entry).
  const last = Math.max(...appended.keys());
  const links = new ShardLinks(shardList);
  t.after(() => links.close());
  for (let s = 0; s < SHARDS; s++) {
    for (let tries = 0; (await links.status(s, 5_000)).applied < last; tries++) {
      assert.ok(tries < 300, `shard ${s} did not catch up with slot ${last}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  for (let s = 0; s < SHARDS; s++) {
    const r = await runWorm(["shard", "read", shardList[s]!, "--limit", "10000", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const rows = (JSON.parse(r.stdout) as { rows: { position: number; value: { text: string } }[] }).rows.map((x) => [x.position, x.value.text]);
    const want = [...appended].filter(([, payload]) => shardOf(text(payload), SHARDS) === s).sort((a, b) => a[0] - b[0]);
    assert.deepEqual(rows, want, `shard ${s} holds exactly the log filtered to it`);
  }
  const st = await runWorm(["logplayer", "status", "--log", "wal", "--shards", shardList.join(","), "--json", ...peers]);
  assert.equal(st.code, 0, st.stderr);
  const status = JSON.parse(st.stdout) as { tail: number; shards: { applied: number; lag: number; epoch: number; group: string }[] };
  assert.deepEqual(status.shards.map((x) => [x.lag, x.epoch, x.group]), [[0, 3, "wal-player"], [0, 3, "wal-player"]]);
  const fresh = new WormLog({ client: client(t, addresses, { cache: false }), log: "wal" });
  assert.equal((await fresh.read(0)).kind, "trimmed", "the player trimmed the log below what both shards applied");
  // Misuse is refused before anything is written, in one line.
  const inUse = await runWorm(["shard", "serve", "--dir", join(dir, "s0")]);
  assert.equal(inUse.code, 2);
  assert.match(oneLineError(inUse), /shard store .*s0 cannot be opened \(in use by another shard/);
  const reordered = await runWorm(["logplayer", "run", "--log", "wal", "--shards", [...shardList].reverse().join(","), ...peers]);
  assert.equal(reordered.code, 2);
  assert.match(oneLineError(reordered), /player group wal-player refuses this player: it delivers to shards/);
  p3.proc.child.kill("SIGINT");
  assert.equal((await p3.proc.exited).code, 0);
});
