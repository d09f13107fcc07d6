/**
 * The replicated state machine under real crashes (issue 11): three acceptor processes, three
 * `worm smr serve` replicas and 64 clients over gRPC putting, deleting and reading a few keys.
 * The leader is killed with SIGKILL (another takes over; the old one comes back from its local
 * checkpoint), then a follower is killed and its data directory wiped: it rejoins from a peer's
 * checkpoint, the log having been trimmed under it. Afterwards the history is linearizable against
 * the map, every acknowledged command is in it, and no command was applied twice (each value is
 * the previous value of at most one command).
 */
import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { mapMachine } from "../../apps/smr/core/map-machine.ts";
import { SmrClient, SmrError } from "../../apps/smr/node/smr-client.ts";
import { HistoryRecorder } from "../../verify/history/history.ts";
import { type MapInput, type MapOutput, checkMapHistory } from "../../verify/spec/map.ts";
import { Procs, type Worm, addressesOf, client, runWorm, startCluster, tempDir, text, untext } from "./harness.ts";
import { stableAddresses } from "../ports.ts";

const CLIENTS = 64;
const KEYS = 8;

test("the SMR keeps every acknowledged command, once, through kill -9 of the leader and a wiped replica, under 64 clients", { timeout: 150_000 }, async (t) => {
  const procs = new Procs(t);
  const dir = await tempDir(t, "worm-smr-");
  const nodes = await startCluster(procs, dir, "smrcrash");
  const clusterFile = join(dir, "cluster.json");
  await writeFile(clusterFile, JSON.stringify({ clusterId: "smrcrash", segmentSize: 256, acceptors: nodes.map((n, k) => ({ id: n.id, address: addressesOf(nodes)[k] })) }));
  assert.equal((await runWorm(["smr", "create", "shop", "--cluster", clusterFile])).code, 0);

  const replicas = await stableAddresses(3);
  const running = new Map<string, Worm>();
  const serve = async (address: string) => {
    const p = procs.start(["smr", "serve", "shop", "--listen", address, "--replicas", replicas.join(","), "--data-dir", join(dir, address.replace(":", "_")), "--cluster", clusterFile, "--checkpoint-commands", "300", "--trailing-slots", "16", "--election-timeout", "500"]);
    await p.waitForJson((l) => l.event === "listening");
    running.set(address, p);
  };
  for (const a of replicas) await serve(a);
  const admin = new SmrClient(mapMachine, { smr: "shop", replicas, attemptTimeoutMs: 1_000 });
  t.after(() => admin.close());
  const statuses = () => Promise.all(replicas.map((_, i) => admin.status(i).catch(() => undefined)));
  const leader = async () => (await statuses()).find((s) => s?.role === "leader")?.id;

  const history = new HistoryRecorder<MapInput, MapOutput>();
  const show = (v: Uint8Array | null) => (v === null ? null : untext(v));
  let stop = false;
  let acked = 0;
  const previousOf = new Map<string, number>();
  const load = Array.from({ length: CLIENTS }, async (_, c) => {
    const smr = new SmrClient(mapMachine, { smr: "shop", replicas: [...replicas.slice(c % 3), ...replicas.slice(0, c % 3)], attemptTimeoutMs: 1_500, timeoutMs: 30_000 });
    try {
      for (let n = 0; !stop; n++) {
        const key = `k${(c * 7 + n) % KEYS}`;
        const roll = (c + n) % 5;
        const input: MapInput = roll < 3 ? { op: "put", key, value: `c${c}.${n}` } : roll === 3 ? { op: "delete", key } : { op: "get", key };
        const id = history.invoke(c, input);
        try {
          if (input.op === "get") history.ok(id, { value: show((await smr.read({ key })).answer) });
          else {
            const r = await smr.propose(input.op === "put" ? { op: "put", key, value: text(input.value) } : input);
            const previous = show(r.result);
            history.ok(id, { value: previous });
            acked++;
            if (previous !== null) previousOf.set(previous, (previousOf.get(previous) ?? 0) + 1);
          }
        } catch (e) {
          if (!(e instanceof SmrError)) throw e;
          if (input.op === "get") history.fail(id);
          else history.unknown(id);
        }
      }
    } finally {
      smr.close();
    }
  });

  const waitFor = async (what: string, f: () => Promise<boolean>, ms = 40_000) => {
    const end = Date.now() + ms;
    while (!(await f())) {
      assert.ok(Date.now() < end, `timed out waiting for ${what}`);
      await sleep(100);
    }
  };
  await waitFor("a leader and some load", async () => (await leader()) !== undefined && acked > 500);

  // kill -9 of the leader: another takes over; the old one restarts from its local checkpoint.
  const first = (await leader())!;
  await running.get(first)!.kill("SIGKILL");
  const before = acked;
  await waitFor("a new leader", async () => ((await leader()) ?? first) !== first);
  await waitFor("commands after the takeover", async () => acked > before + 500);
  await serve(first);

  // A follower killed and its data wiped: it rejoins from a peer's checkpoint.
  const l = (await leader())!;
  const wiped = replicas.find((a) => a !== l)!;
  await running.get(wiped)!.kill("SIGKILL");
  await rm(join(dir, wiped.replace(":", "_")), { recursive: true, force: true });
  const mark = acked;
  await waitFor("checkpoints and a trim while it is down", async () => {
    const wor = client(t, addressesOf(nodes));
    return acked > mark + 600 && (await wor.read("shop", 0))._tag === "Trimmed";
  });
  await serve(wiped);
  await waitFor("the wiped replica to catch up", async () => {
    const s = await statuses();
    const tail = s.find((x) => x?.role === "leader")?.tail;
    const w = s[replicas.indexOf(wiped)];
    return tail !== undefined && w !== undefined && !w.catchingUp && w.applied >= tail - 50 && w.checkpoint !== undefined;
  });
  stop = true;
  await Promise.all(load);

  // Final reads through each replica, linearizable.
  for (const [i, a] of replicas.entries()) {
    const c = new SmrClient(mapMachine, { smr: "shop", replicas: [a], timeoutMs: 20_000 });
    for (let k = 0; k < KEYS; k++) {
      const id = history.invoke(CLIENTS + i, { op: "get", key: `k${k}` });
      history.ok(id, { value: show((await c.read({ key: `k${k}` })).answer) });
    }
    c.close();
  }
  const twice = [...previousOf].filter(([, n]) => n > 1);
  assert.deepEqual(twice, [], "a value was the previous value of two commands: a command was applied twice");
  const verdict = checkMapHistory(history.operations(), { stepsMax: 20_000_000 });
  assert.ok(verdict.ok, `history not linearizable: ${JSON.stringify(verdict)}`);
  console.log(`# smr e2e: ${history.operations().length} operations, ${acked} commands acknowledged`);
});
