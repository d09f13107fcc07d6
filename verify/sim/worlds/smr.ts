/**
 * The SMR world (docs/ARCHITECTURE.md §4.2, §5): replicas running the real `ReplicaCore`
 * (worlds/smr-replica.ts) over the real acceptors, and clients (worlds/smr-workload.ts) proposing
 * map commands and reading, each request to a replica at random. Replicas talk over ordered
 * streams (as over gRPC; sometimes a message arrives twice), clients by datagrams; snapshots are
 * fetched chunk by chunk from the holder's simulated disk (a chunk may arrive damaged).
 *
 * Faults besides the kernel's: replica crashes (the leader half the time), each restarting a while
 * later from its local checkpoint, or with its data wiped and rejoining from a peer's checkpoint;
 * partitions between replicas, between a client and a replica, between a replica and an acceptor;
 * the leader cut off from the other replicas and the acceptors while its clients still reach it
 * (a deposed leader asked to read: read-index must keep it from answering); sometimes an impatient replica that takes over from live leaders (worlds/smr-replica.ts).
 * With a checkpoint every few commands and no trailing slots, a replica down for a while finds the
 * log trimmed under it and catches up from a peer's checkpoint.
 *
 * Checks: the `SmrObserver` (apps/smr/core/invariants.ts) after every apply, execution, answer,
 * checkpoint and install; after the heal, every replica reaches the leader's tail and their final
 * states' digests must agree; at the end, the history against the map spec (verify/spec/map.ts).
 */
import { digestOf } from "../../../apps/smr/core/digest.ts";
import { decodeSlot } from "../../../apps/log/core/entry.ts";
import { SmrObserver } from "../../../apps/smr/core/invariants.ts";
import type { ReplicaOutputs, SmrReply } from "../../../apps/smr/core/messages.ts";
import { decodeRecord, keyOf } from "../../../apps/smr/core/records.ts";
import { spaceSetup } from "../../../wor/core/space-meta.ts";
import { HistoryRecorder } from "../../history/history.ts";
import { buggify } from "../../runtime/buggify.ts";
import { probe } from "../../runtime/probe.ts";
import { type MapInput, type MapOutput, checkMapHistory } from "../../spec/map.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { acceptorName } from "../kernel/net.ts";
import type { SimProcess } from "../kernel/process.ts";
import type { World, WorldDef } from "../kernel/world.ts";
import { SMR_WORLD_DEFAULTS, type SmrWorldOptions } from "./smr-options.ts";
import { KEPT_CHECKPOINTS, ReplicaService, SMR_NAME, type StoredCheckpoint } from "./smr-replica.ts";
import { type ClientRequest, type SmrHost, SmrWorkload } from "./smr-workload.ts";

/** A fetch not answered by then fails (the holder died, a message was lost). */
const FETCH_TIMEOUT_MS = 400;
/** How often the end phase looks whether every replica reached the leader's tail. */
const CONVERGE_POLL_MS = 50;

export const smrWorld: WorldDef<SmrWorldOptions> = {
  layer: "smr",
  title: "the replicated state machine: replicas, leader crashes and takeovers, checkpoints, catch-up",
  defaults: SMR_WORLD_DEFAULTS,
  buggifySalt: 0x27d4eb2f,
  setup: (o) => spaceSetup(SMR_NAME, { kind: "smr", segmentSize: o.segmentSize }),
  create: (kernel, o) => new SmrWorld(kernel, o),
};

class SmrWorld implements World, SmrHost {
  readonly observer = new SmrObserver();
  readonly history = new HistoryRecorder<MapInput, MapOutput>();
  private readonly workload: SmrWorkload;
  private readonly names: string[];
  private readonly live = new Map<string, SimProcess>();
  private readonly stores = new Map<string, StoredCheckpoint[]>();
  private readonly down = new Set<string>();
  /** Replicas whose wipe lost checkpoints, each with the highest position lost, until they store
   *  one at or above it again (their checkpoint records, which trims count, are backed again). */
  private readonly lost = new Map<string, number>();
  private readonly waiting = new Map<number, { readonly client: string; readonly answer: (r: SmrReply) => void }>();
  private nextReq = 1;
  private converged = false;
  /** Leadership owners heard in heartbeats, in order (a second one is a takeover). */
  private readonly owners = new Set<string>();
  /** The slot each command key was first seen in the log (a later copy is answered from the session table). */
  private readonly firstSlot = new Map<string, number>();

  constructor(
    readonly k: Kernel,
    readonly options: SmrWorldOptions,
  ) {
    this.names = Array.from({ length: options.replicas }, (_, i) => `r${i}`);
    this.workload = new SmrWorkload(this, () => this.converge());
  }

  get pending(): number {
    return this.workload.pending + (this.converged ? 0 : 1);
  }
  get operations(): number {
    return this.history.operations().length;
  }
  begin(): void {
    for (const n of this.names) this.start(n);
    this.workload.begin();
  }
  final(): void {}
  finish(): readonly string[] {
    if (!this.workload.finalDone) return ["the final reads did not finish"];
    const v = checkMapHistory(this.history.operations(), { stepsMax: 5_000_000 });
    return v.ok ? [] : [`history is not linearizable at ${v.partition}: ${JSON.stringify(v.verdict)}`];
  }

  request(client: string, replica: string, req: ClientRequest, answer: (r: SmrReply) => void): void {
    const id = this.nextReq++;
    this.waiting.set(id, { client, answer });
    this.k.message(client, replica, `${client}>${replica} req${id} ${req.kind}`, () => {
      const p = this.live.get(replica);
      if (!p) return this.k.record(`drop>${replica} req${id}`);
      const core = this.service(p).core;
      if (req.kind === "propose") core.propose(id, req.proposal, this.k.now);
      else core.read(id, req.query, req.stale, this.k.now);
      this.k.procs.settle(p);
    }, false);
  }

  learned(p: SimProcess, _space: string, index: number, value: Uint8Array): void {
    this.service(p).core.learned(index, value);
    this.k.procs.settle(p);
  }

  /** A partition between two replicas, a replica and an acceptor, or a client and a replica. */
  link(): readonly [string, string] | undefined {
    const prng = this.k.prng;
    const r = prng.pick(this.names);
    const roll = prng.int(10);
    if (roll < 4) return [r, prng.pick(this.names.filter((n) => n !== r))];
    if (roll < 7) return [r, acceptorName(prng.int(this.options.acceptors))];
    return [`c${prng.int(this.options.clients)}`, r];
  }

  faults(): void {
    this.crashFault();
    this.isolationFault();
  }

  private leaderAmong(up: readonly string[]): string | undefined {
    return up.find((n) => this.service(this.live.get(n)!).core.status().role === "leader");
  }

  /** Cut the leader off from the other replicas and every acceptor, its clients still reaching it. */
  private isolationFault(): void {
    if (!this.k.prng.chance(this.options.faults.leaderIsolation)) return;
    const leader = this.leaderAmong(this.names.filter((n) => this.live.has(n)));
    if (!leader) return;
    probe("smr.leader.isolated");
    const ms = 300 + this.k.prng.int(900);
    for (const n of this.names) if (n !== leader) this.k.cut(leader, n, ms);
    for (let a = 0; a < this.options.acceptors; a++) this.k.cut(leader, acceptorName(a), ms);
  }

  private crashFault(): void {
    if (!this.k.prng.chance(this.options.faults.replicaCrash)) return;
    const up = this.names.filter((n) => this.live.has(n));
    const leader = this.leaderAmong(up);
    const victim = leader && this.k.prng.chance(0.5) ? leader : up.length > 0 ? this.k.prng.pick(up) : undefined;
    if (!victim) return;
    probe(victim === leader ? "smr.leader.crash" : "smr.replica.crash");
    this.k.procs.kill(this.live.get(victim)!);
    this.live.delete(victim);
    this.down.add(victim);
    // The draw is made either way, so a wipe the bound refuses leaves the rest of the schedule as it was.
    if (this.k.prng.chance(this.options.faults.replicaWipe)) this.wipe(victim);
    this.k.later(100 + this.k.prng.int(500), () => this.restart(victim));
  }

  /** Wipe `victim`'s data, unless that could lose the state below the log's trim. The log is
   *  trimmed below the position a majority's checkpoint records reached, so the state there is on
   *  a majority's disks and survives losing a minority's, not more: a wipe that would leave a
   *  majority of replicas with lost checkpoints not yet stored again is refused (with every copy
   *  gone, the replicas rightly wait forever for one). */
  private wipe(victim: string): void {
    const held = Math.max(this.lost.get(victim) ?? 0, ...(this.stores.get(victim) ?? []).map((c) => c.position));
    const minority = Math.floor((this.options.replicas - 1) / 2);
    if (held > 0 && new Set([...this.lost.keys(), victim]).size > minority) return void probe("smr.replica.wipeRefused");
    this.stores.delete(victim);
    if (held > 0) this.lost.set(victim, held);
  }

  healed(): void {
    for (const n of [...this.down]) this.restart(n);
  }

  // ---- Replicas. ----

  private service(p: SimProcess): ReplicaService {
    return p.service as ReplicaService;
  }

  private restart(name: string): void {
    if (!this.down.delete(name)) return;
    this.start(name);
  }

  private start(name: string): void {
    let proc: SimProcess | undefined;
    const observe = (found: string[]) => this.k.check(found);
    const p = this.k.procs.spawn(name, { segmentSize: this.options.segmentSize }, (endpoint) => {
      const incarnation = `${name}.${endpoint}`;
      return new ReplicaService(name, incarnation, this.options, () => this.k.now, {
        applied: (slot, value) => {
          observe(this.observer.applied(incarnation, slot, value));
          this.noteCopies(slot, value);
        },
        executed: (key, slot) => observe(this.observer.executed(incarnation, key, slot)),
        installed: (position, digest) => observe(this.observer.digest(incarnation, position, digest, true)),
      }, (out) => this.outputs(proc!, name, incarnation, out));
    });
    proc = p;
    this.live.set(name, p);
    const local = this.stores.get(name)?.at(-1);
    if (local) {
      probe("smr.restart.fromLocalCheckpoint");
      const core = this.service(p).core;
      const id = core.install(local.position, local.digest);
      for (const c of local.chunks) core.installChunk(id, c);
      core.installEnd(id);
    }
    this.k.procs.settle(p);
  }

  private outputs(p: SimProcess, name: string, incarnation: string, out: ReplicaOutputs): void {
    for (const { req, reply } of out.replies) {
      const w = this.waiting.get(req);
      if (!w) continue;
      this.k.message(name, w.client, `${name}>${w.client} req${req} ${reply.ok ? "ok" : reply.code}`, () => w.answer(reply), false);
    }
    for (const { to, msg } of out.sends) {
      // What the wire would refuse to encode (the simulator hands messages over as objects).
      if (msg.kind === "heartbeat" && !Number.isSafeInteger(msg.tail)) this.k.check([`${name} sent a heartbeat without a tail (${msg.tail})`]);
      if (msg.kind === "heartbeat" && !this.owners.has(msg.owner)) {
        if (this.owners.size > 0) probe("smr.leader.takeover");
        this.owners.add(msg.owner);
      }
      const deliver = () => {
        const target = this.live.get(to);
        if (!target) return;
        this.service(target).core.deliver(name, msg, this.k.now);
        this.k.procs.settle(target);
      };
      this.k.message(name, to, `${name}>${to} ${msg.kind}`, deliver, true);
      if (buggify("sim.smr.duplicateMessage")) this.k.message(name, to, `${name}>${to} ${msg.kind} again`, deliver, false);
    }
    if (out.checkpoint) this.store(p, name, incarnation, out.checkpoint.position, [...out.checkpoint.chunks]);
    if (out.fetch) this.fetch(p, name, out.fetch);
    if (out.watch !== undefined) this.k.procs.watch(p, SMR_NAME, out.watch, true);
  }

  /** Probe a command whose key the log holds at two slots (a retry, a forward and a direct copy). */
  private noteCopies(slot: number, value: Uint8Array): void {
    const s = decodeSlot(value);
    const r = "_tag" in s || s.kind === "fill" ? undefined : decodeRecord(s.entry.payload);
    if (r === undefined || "_tag" in r || r.kind !== "batch") return;
    for (const p of r.proposals) {
      const first = this.firstSlot.get(keyOf(p));
      if (first === undefined) this.firstSlot.set(keyOf(p), slot);
      else if (first !== slot) probe("smr.log.commandCopy");
    }
  }

  private store(p: SimProcess, name: string, incarnation: string, position: number, chunks: Uint8Array[]): void {
    const digest = digestOf(chunks);
    this.k.check(this.observer.digest(incarnation, position, digest));
    const kept = [...(this.stores.get(name) ?? []), { position, digest, chunks }];
    if (position >= (this.lost.get(name) ?? Number.POSITIVE_INFINITY)) this.lost.delete(name);
    this.stores.set(name, kept.slice(-KEPT_CHECKPOINTS));
    probe("smr.checkpoint.stored");
    this.k.later(1 + this.k.prng.int(10), () => {
      if (!p.alive) return;
      this.service(p).core.checkpointed(position, digest, chunks.reduce((n, c) => n + c.length, 0));
      this.k.procs.settle(p);
    });
  }

  private fetch(p: SimProcess, name: string, f: NonNullable<ReplicaOutputs["fetch"]>): void {
    probe("smr.catchUp.fetch");
    const core = this.service(p).core;
    // A replica with a state of its own (a local checkpoint, a replay, an earlier install) that the
    // log's trim outran: only checkpoints newer than it qualify.
    if (core.status().applied > 0) probe("smr.catchUp.trimOutranState");
    const settle = (fn: () => void) => {
      if (!p.alive) return;
      fn();
      this.k.procs.settle(p);
    };
    this.k.later(FETCH_TIMEOUT_MS, () => settle(() => core.installFailed(f.id, "timed out")));
    this.k.message(name, f.from, `${name}>${f.from} fetch ${f.position}`, () => {
      const held = this.live.has(f.from) ? this.stores.get(f.from)?.find((c) => c.position === f.position) : undefined;
      this.k.message(f.from, name, `${f.from}>${name} snapshot ${f.position} ${held ? "found" : "missing"}`, () =>
        settle(() => {
          if (!held) return core.installFailed(f.id, `${f.from} holds no checkpoint of position ${f.position}`);
          for (const c of held.chunks) {
            const damaged = c.length > 0 && buggify("sim.smr.damagedChunk");
            if (damaged) probe("smr.catchUp.damagedChunk");
            core.installChunk(f.id, damaged ? c.map((b, i) => (i === 0 ? b ^ 1 : b)) : c);
          }
          core.installEnd(f.id);
          if (core.status().applied === f.position) probe("smr.catchUp.installed");
        }),
      true);
    }, true);
  }

  /** After the workload: wait until every replica reached the leader's tail, compare their final
   *  digests, then stop them (the run ends when nothing is left to happen). */
  private converge(): void {
    const cores = this.names.map((n) => this.live.get(n)).map((p) => (p ? this.service(p).core : undefined));
    const leader = cores.find((c) => c?.status().role === "leader");
    const tail = leader?.status().tail;
    if (tail === undefined || cores.some((c) => c === undefined || c.status().applied !== tail || c.status().catchingUp)) {
      this.k.later(CONVERGE_POLL_MS, () => this.converge());
      return;
    }
    for (const [i, c] of cores.entries()) this.k.check(this.observer.digest(`${this.names[i]} (final)`, tail, digestOf(c!.state.snapshot(tail))));
    for (const p of [...this.live.values()]) this.k.procs.kill(p);
    this.live.clear();
    this.converged = true;
  }
}
