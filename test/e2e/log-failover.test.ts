/**
 * The shared log under real crashes (issue 4): 64 appenders over gRPC with a remote sequencer while
 * the sequencer process and then one acceptor are killed with SIGKILL. The appenders fail over to a
 * standby sequencer (which seals the dead one's segments under a higher ballot). Afterwards every
 * acknowledged append is readable exactly once at its slot, no idempotency key is stored twice, and
 * two subscribers that followed the load saw the same entries in the same order.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { LogObserver } from "../../apps/log/core/invariants.ts";
import { LogError, WormLog } from "../../apps/log/node/log-client.ts";
import { RemoteTokenSource } from "../../apps/log/node/remote-tokens.ts";
import { Procs, addressesOf, client, startCluster, tempDir, text } from "./harness.ts";

const APPENDERS = 64;
const SEGMENT = 256;

test("appends survive kill -9 of the sequencer and of one acceptor under 64-client load", { timeout: 120_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t);
  const nodes = await startCluster(procs, dir, "logcrash");
  const addresses = addressesOf(nodes);
  const clusterFile = join(dir, "cluster.json");
  await writeFile(clusterFile, JSON.stringify({ clusterId: "logcrash", segmentSize: SEGMENT, acceptors: nodes.map((n, k) => ({ id: n.id, address: addresses[k] })) }));
  const startSequencer = async () => {
    const p = procs.start(["log", "sequencer", "--cluster", clusterFile, "--listen", "127.0.0.1:0"]);
    const line = await p.waitForJson((l) => l.event === "listening");
    return { proc: p, address: `127.0.0.1:${line.port as number}` };
  };
  const primary = await startSequencer();
  const standby = await startSequencer();

  const mk = () => client(t, addresses, { roundTimeoutMs: 1_000 });
  await WormLog.create(mk(), "events");
  const tokens = new RemoteTokenSource({ addresses: [primary.address, standby.address] });
  t.after(() => tokens.close());
  const appendClient = mk();
  const acked: { key: { client: string; seq: number }; slot: number }[] = [];
  let unknown = 0;
  let stop = false;

  const subscribers = [0, 1].map(() => {
    const log = new WormLog({ client: mk(), log: "events", read: { holeTimeoutMs: 500 } });
    const seen: number[] = [];
    const stop = new AbortController();
    const done = (async () => {
      for await (const s of log.subscribe(0, { signal: stop.signal })) seen.push(s.slot);
    })();
    return { seen, stop, done };
  });

  const load = Array.from({ length: APPENDERS }, async (_, a) => {
    const log = new WormLog({ client: appendClient, log: "events", tokens, clientId: `app${a}` });
    for (let seq = 0; !stop; seq++) {
      const key = { client: `app${a}`, seq };
      // Retry with the same key until it lands: the key makes the retry safe.
      for (let tries = 0; !stop; tries++) {
        try {
          const r = await log.append(text(`app${a}-${seq}`), { key });
          acked.push({ key, slot: r.slot });
          break;
        } catch (e) {
          if (!(e instanceof LogError)) throw e;
          if (tries === 0) unknown++;
          await sleep(20);
        }
      }
    }
  });

  await sleep(1_500);
  const beforeSequencerKill = acked.length;
  await primary.proc.kill("SIGKILL");
  await sleep(2_000);
  const afterSequencerKill = acked.length;
  await nodes[2]!.proc.kill("SIGKILL");
  await sleep(2_000);
  const afterAcceptorKill = acked.length;
  stop = true;
  await Promise.all(load);

  assert.ok(beforeSequencerKill > 100, `load ran before the kills (${beforeSequencerKill} acks)`);
  assert.ok(afterSequencerKill > beforeSequencerKill, "appends continued through the standby sequencer");
  assert.ok(afterAcceptorKill > afterSequencerKill, "appends continued with one acceptor down");

  // Read everything back from a fresh client: the whole log up to the tail, settled.
  const reader = new WormLog({ client: mk(), log: "events", tokens, read: { holeTimeoutMs: 300 } });
  const tail = await reader.tail();
  const all = await reader.readRange(0, tail);
  const obs = new LogObserver();
  const violations: string[] = [];
  for (const s of all) violations.push(...obs.observe(s));
  for (const a of acked) violations.push(...obs.acked(a.key, a.slot));
  violations.push(...obs.finalCheck());
  assert.deepEqual(violations.slice(0, 10), [], `${violations.length} violations`);
  const entries = all.filter((s) => s.kind === "entry").map((s) => s.slot);
  assert.ok(entries.length >= acked.length, "every acknowledged append is in the log");

  // Subscribers: let them catch up to the tail, then compare with the log's order.
  const deadline = Date.now() + 20_000;
  while (subscribers.some((s) => (s.seen.at(-1) ?? -1) < (entries.at(-1) ?? -1)) && Date.now() < deadline) await sleep(50);
  for (const s of subscribers) {
    s.stop.abort();
    await s.done;
    assert.deepEqual(s.seen, entries.slice(0, s.seen.length), "a subscriber saw the log's entries in its order");
    assert.equal(s.seen.length, entries.length, "each subscriber reached the tail");
  }
  t.diagnostic(`acked ${acked.length} (before kills ${beforeSequencerKill}, after sequencer kill ${afterSequencerKill}, after acceptor kill ${afterAcceptorKill}); first attempts that failed ${unknown}; log ${all.length} slots, ${entries.length} entries`);
});
