/**
 * WormTX benchmark (issue 12): commit latency with 2, 3 and 5 participants and throughput at
 * `--concurrency` transactions in flight, against classic 2PC with a durable coordinator decision
 * record (bench/lib/two-phase.ts) on the same three acceptor processes in the same run. The
 * participants are account stores in this process (classic-level, synced writes); a transaction
 * moves money from participant 0's account to one account at each other participant. Concurrent
 * workers use accounts of their own, so no transaction waits on a lock. One JSON line per
 * measurement.
 *
 * `--clients shared` (the default): the coordinator and the participants share one client, as
 * participants in the coordinator's process would, so a commit's record and votes leave in one
 * envelope per acceptor. `--clients separate`: each has its own client and connections, the shape
 * of participants in processes of their own, here all on this process's CPU.
 *
 * Message delays to a decision (as the paper counts them; the participants here are local, so the
 * coordinator–participant hops cost no network time in this run):
 *  - WormTX: prepare (1), the vote's accept reaching a quorum (2): the outcome is fixed; the
 *    acceptors' replies and watch pushes (3): participants know it; a participant's answer (4): the
 *    coordinator knows it.
 *  - 2PC: prepare (1), vote (2), the decision record's accept reaching a quorum (3): fixed; its
 *    acknowledgement (4): the coordinator knows it; the commit message (5): participants know it.
 *
 * With `--stages true`, `txn.commit_stages` splits WormTX's sequential commit into stages and
 * `txn.owner_writes` times the same owner writes without the app (bench/lib/txn-stages.ts).
 *
 *   node --import tsx bench/txn.ts [--n 2000] [--seq-n 300] [--concurrency 64] [--participants 2,3,5] [--clients shared|separate] [--stages false]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Op, encodeOps } from "../apps/txn/core/bank.ts";
import { AccountStore } from "../apps/txn/node/accounts.ts";
import { TXN_SEGMENT_SIZE, encodeRecord, encodeVote } from "../apps/txn/core/record.ts";
import { TxnCoordinator } from "../apps/txn/node/coordinator.ts";
import { localParticipants } from "../apps/txn/node/participant.ts";
import { WorClient } from "../wor/node/client.ts";
import { grpcTransport } from "../wor/node/grpc-link.ts";
import { startProcessCluster } from "./lib/cluster.ts";
import { CpuMeter } from "./lib/cpu-time.ts";
import { emit, round, summarize } from "./lib/stats.ts";
import { CommitStages, ownerWrites } from "./lib/txn-stages.ts";
import { TwoPcCoordinator, TwoPcParticipant } from "./lib/two-phase.ts";

const { values: flags } = parseArgs({
  options: {
    n: { type: "string", default: "2000" },
    "seq-n": { type: "string", default: "300" },
    concurrency: { type: "string", default: "64" },
    participants: { type: "string", default: "2,3,5" },
    stages: { type: "string", default: "false" },
    clients: { type: "string", default: "shared" },
  },
});
const N = Number(flags.n);
const SEQ = Number(flags["seq-n"]);
const C = Number(flags.concurrency);
const SIZES = flags.participants.split(",").map(Number);
const STAGES = flags.stages === "true";
const SHARED = flags.clients === "shared";
if (!SHARED && flags.clients !== "separate") throw new Error(`--clients takes shared or separate, not ${flags.clients}`);
/** Transactions run before each measurement: the first ones pay for the JIT of every process (the acceptors are fresh). */
const WARMUP = 500;
const BALANCE = 1_000_000_000;

const MESSAGE_DELAYS = {
  wormtx: { fixed: 2, participants_know: 3, coordinator_knows: 4 },
  "2pc": { fixed: 3, coordinator_knows: 4, participants_know: 5 },
};

/** Worker `w`'s transaction over `n` participants: participant 0 pays one unit to each other one. */
const opsOf = (n: number, w: number): Op[][] => Array.from({ length: n }, (_, i) => [{ account: `a${i}-${w}`, delta: i === 0 ? -(n - 1) : 1 }]);
const accountsOf = (i: number) => new Map(Array.from({ length: C }, (_, w) => [`a${i}-${w}`, BALANCE] as const));

/** `total` operations over `workers` workers (worker w runs op(w)), each timed. */
async function workers(total: number, count: number, op: (w: number) => Promise<string>): Promise<{ lat: number[]; secs: number; aborted: number }> {
  const lat: number[] = [];
  let next = 0;
  let aborted = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: count }, async (_, w) => {
      while (next++ < total) {
        const s = performance.now();
        if ((await op(w)) !== "committed") aborted++;
        lat.push(performance.now() - s);
      }
    }),
  );
  return { lat, secs: (performance.now() - t0) / 1000, aborted };
}

const cluster = await startProcessCluster(3, "bench-txn");
const dir = await mkdtemp(join(tmpdir(), "worm-bench-txn-"));
/** CPU per transaction, per process: this one (the coordinator and the participants) and each acceptor. */
const ROLES = new Map<string, number | "self">([["coordinator_and_participants", "self"], ...[0, 1, 2].map((i) => [`acceptor${i}`, cluster.pid(i)] as const)]);
const clients: WorClient[] = [];
const client = (): WorClient => {
  const c = new WorClient({ transport: grpcTransport({ addresses: cluster.addresses }), acceptors: 3, segmentSize: 16 });
  clients.push(c);
  return c;
};
const closers: (() => Promise<unknown>)[] = [];

/** Money is conserved: every balance as the committed transactions left it (once all are applied). */
async function conserved(n: number, balances: () => readonly ReadonlyMap<string, number>[], settled: () => boolean): Promise<boolean> {
  const end = Date.now() + 10_000;
  while (!settled() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  const total = balances().reduce((sum, b) => sum + [...b.values()].reduce((x, y) => x + y, 0), 0);
  return settled() && total === n * C * BALANCE;
}

async function measure(system: "wormtx" | "2pc", n: number, commit: (w: number) => Promise<string>, check: () => Promise<boolean>, stages?: CommitStages): Promise<void> {
  const base = { participants: n, acceptors: 3, clients: system === "2pc" ? "one" : flags.clients, message_delays: MESSAGE_DELAYS[system] };
  await workers(WARMUP, 1, commit);
  const meter = await CpuMeter.start(ROLES);
  const seq = await workers(SEQ, 1, stages ? (w) => stages.time(() => commit(w)) : commit);
  const cpu = await meter.perOp(SEQ);
  emit({ bench: "txn.commit.sequential", txn_system: system, ...base, ...summarize(seq.lat), aborted: seq.aborted, txn_per_s: round(SEQ / seq.secs, 0), cpu_us_per_txn: cpu });
  if (stages) emit({ bench: "txn.commit_stages", txn_system: system, participants: n, acceptors: 3, ...stages.summary() });
  const conMeter = await CpuMeter.start(ROLES);
  const con = await workers(N, C, commit);
  const conCpu = await conMeter.perOp(N);
  emit({ bench: "txn.commit.concurrent", txn_system: system, ...base, in_flight: C, ...summarize(con.lat), aborted: con.aborted, txn_per_s: round(N / con.secs, 0), cpu_us_per_txn: conCpu, conserved: await check() });
}

try {
  for (const n of SIZES) {
    const space = `bank${n}`;
    await TxnCoordinator.create(client(), space);
    const stages = STAGES ? new CommitStages() : undefined;
    const coordClient = client();
    const storeClients = Array.from({ length: n }, () => (SHARED ? coordClient : client()));
    const stores = await Promise.all(
      Array.from({ length: n }, (_, i) => AccountStore.open({ name: `p${i}`, dir: join(dir, `${space}-p${i}`), client: storeClients[i]!, space, accounts: accountsOf(i) })),
    );
    closers.push(() => Promise.all(stores.map((s) => s.close())));
    const link = localParticipants(stores);
    if (stages) {
      for (const c of new Set([coordClient, ...storeClients])) stages.watchClient(c, space, TXN_SEGMENT_SIZE);
    }
    const coord = new TxnCoordinator({ client: coordClient, space, participants: stages ? stages.watchLink(link, stores.map((s) => s.name)) : link });
    await measure(
      "wormtx",
      n,
      async (w) => (await coord.commit(opsOf(n, w).map((ops, i) => ({ participant: `p${i}`, payload: encodeOps(ops) })))).outcome,
      () => conserved(n, () => stores.map((s) => s.balances), () => stores.every((s) => s.inDoubt.length === 0)),
      stages,
    );
    if (stages) {
      const raw = `raw${n}`;
      await client().createSpace(raw, { kind: "registers", segmentSize: 4096 });
      const writers = Array.from({ length: n + 1 }, () => client());
      // Values of a vote's size: its record (participants, deadline, the coordinator's name) and payload.
      const record = encodeRecord({ participants: opsOf(n, 0).map((_, i) => `p${i}`), deadline: Date.now(), coordinator: coord.owner });
      const valueBytes = encodeVote({ kind: "yes", participant: "p0", record, payload: encodeOps(opsOf(n, 0)[0]!) }).byteLength;
      emit({ bench: "txn.owner_writes", writers: n + 1, acceptors: 3, value_bytes: valueBytes, ...(await ownerWrites(writers, raw, SEQ, valueBytes)) });
    }

    const decisions = `decisions${n}`;
    await client().createSpace(decisions, { kind: "registers", segmentSize: 4096 });
    const twoPc = await Promise.all(Array.from({ length: n }, (_, i) => TwoPcParticipant.open(join(dir, `2pc${n}-p${i}`), accountsOf(i))));
    closers.push(() => Promise.all(twoPc.map((p) => p.close())));
    const tc = new TwoPcCoordinator(client(), decisions);
    await measure(
      "2pc",
      n,
      (w) => tc.commit(opsOf(n, w).map((ops, i) => ({ participant: twoPc[i]!, ops }))),
      () => conserved(n, () => twoPc.map((p) => p.balances), () => true),
    );
  }
} finally {
  for (const c of closers.reverse()) await c();
  for (const c of clients) c.close();
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
}
