/**
 * One deterministic simulation run of the register layer (docs/ARCHITECTURE.md §5): 3 acceptors (the real
 * acceptor node and group commit over simulated disks, sim/acceptor.ts) and several clients running the real
 * WOR client core (wor/core/client-core.ts), on virtual time, every random choice drawn from one
 * PRNG seeded by the run's seed. Faults: message loss, duplication, delay and reordering, partitions
 * between clients and acceptors, acceptor crashes that lose unsynced writes, and restarts. Clients
 * learn of crashes and partitions as a transport reports a link down (`onLinkDown`), and of
 * restarts and healed partitions as a link back up. Captures that start with a minority down and
 * mixed promises at the rest are watched (sim/minority.ts): some must succeed.
 *
 * After every event the invariants run (acceptor step invariants in the node; the register
 * invariants of verify/spec/register-invariants.ts here). Then a heal phase: faults stop, crashed
 * acceptors restart, and every pending operation must finish, after which a recovering read of each
 * address must succeed. The history of operations is checked for linearizability at the end.
 */
import { type AcceptorState, maxPromiseIn } from "../../paxos/acceptor.ts";
import { bytesEqual } from "../runtime/bytes.ts";
import { nextBallot } from "../../paxos/ballot.ts";
import type { Reply, Request } from "../../paxos/messages.ts";
import type { ServerFrame } from "../../wor/wire/frames.ts";
import { majority } from "../../paxos/quorum.ts";
import { CLIENT_DEFAULTS, type Completion, WorClientCore } from "../../wor/core/client-core.ts";
import type { Capture, CaptureResult, OpResult, ReadResult, WriteResult } from "../../wor/core/results.ts";
import { spaceSetup } from "../../wor/core/space-meta.ts";
import { HistoryRecorder } from "../history/history.ts";
import { AssertionFailed, assert } from "../runtime/assert.ts";
import { buggify } from "../runtime/buggify.ts";
import { Prng, hashString32 } from "../runtime/prng.ts";
import { probe } from "../runtime/probe.ts";
import { type SpaceInput, type SpaceOutput, checkAddressSpace, partitionByAddress } from "../spec/address-space.ts";
import { type ChosenGhost, EMPTY_VOTES, recordVotes, type VoteLog, checkAcked, checkCommitted, checkReadValue, observeChosen, recordVotesFromMutations, showValue } from "../spec/register-invariants.ts";
import { SimAcceptor, maybeCrashAcceptor } from "./acceptor.ts";
import { MinorityWatch } from "./minority.ts";
import { EventQueue } from "./queue.ts";
import { type RunResult, WORLD_DEFAULTS, type WorldOptions } from "./options.ts";

type Event =
  | { readonly kind: "toAcceptor"; readonly to: number; readonly from: number; readonly frameId: number; readonly request: Request }
  | { readonly kind: "toClient"; readonly to: number; readonly from: number; readonly frameId: number; readonly reply: Reply }
  | { readonly kind: "syncDone"; readonly acceptor: number; readonly epoch: number }
  | { readonly kind: "clientTick"; readonly client: number }
  | { readonly kind: "startOp"; readonly client: number }
  | { readonly kind: "faultTick" }
  | { readonly kind: "restart"; readonly acceptor: number }
  | { readonly kind: "heal" }
  | { readonly kind: "partitionEnd"; readonly client: number; readonly acceptor: number };

type Pending = { readonly history: number; readonly kind: string; readonly space: string; readonly index: number; readonly value?: Uint8Array };

const SPACES = ["s", "own"] as const;
/** Large enough that trims never reach the allocation registers (this world does not allocate). */
const SEGMENT_SIZE = 1 << 20;

export function runWorld(options: Partial<WorldOptions> & { seed: number }): RunResult {
  const o: WorldOptions = { ...WORLD_DEFAULTS, ...options };
  return new World(o).run();
}

class World {
  private readonly prng: Prng;
  private readonly queue = new EventQueue<Event>();
  private readonly acceptors: SimAcceptor[];
  private readonly clients: WorClientCore[];
  private readonly quorum: number;
  private readonly history = new HistoryRecorder<SpaceInput, SpaceOutput>();
  private readonly pending: Map<number, Pending>[];
  private readonly opsLeft: number[];
  private readonly captures: (Capture | undefined)[];
  private readonly blocked = new Set<string>();
  private votes: VoteLog[];
  private ghost: ChosenGhost = new Map();
  private readonly acked = new Map<string, { space: string; index: number; value: Uint8Array }>();
  private readonly violations: string[] = [];
  private readonly log: string[] = [];
  private readonly completed: Record<string, number> = {};
  private hash = 0x811c9dc5;
  private now = 0;
  private events = 0;
  private healed = false;
  private nextValue = 1;
  private readonly tickAt: (number | undefined)[] = [];
  private trimTarget = 0;
  private readonly minority = new MinorityWatch();

  constructor(private readonly o: WorldOptions) {
    this.prng = new Prng(o.seed);
    this.quorum = majority(o.acceptors);
    const setup = SPACES.flatMap((s) => spaceSetup(s, { kind: "registers", segmentSize: SEGMENT_SIZE }));
    const host = { syncStarted: (a: SimAcceptor) => this.scheduleSync(a), send: (from: number, to: number, frames: readonly ServerFrame[]) => this.reply(from, to, frames) };
    this.acceptors = Array.from({ length: o.acceptors }, (_, i) => new SimAcceptor(i, host, setup));
    // The setup's votes (each space's metadata) count like any other durable vote.
    this.votes = this.acceptors.map((a) => recordVotes(EMPTY_VOTES, a.durableState));
    this.checkDurable();
    this.clients = Array.from(
      { length: o.clients },
      (_, i) =>
        new WorClientCore({
          ...CLIENT_DEFAULTS,
          acceptors: o.acceptors,
          quorum: this.quorum,
          proposerId: i + 1,
          segmentSize: SEGMENT_SIZE,
          roundTimeoutMs: 400,
          resendMs: 60,
          // Few, so that captures also run out of retries under contention.
          preemptRetriesMax: 3,
        }),
    );
    this.pending = this.clients.map(() => new Map());
    this.opsLeft = this.clients.map(() => o.opsPerClient);
    this.captures = this.clients.map(() => undefined);
  }

  run(): RunResult {
    for (let c = 0; c < this.o.clients; c++) this.queue.push(this.prng.int(20), { kind: "startOp", client: c });
    this.queue.push(0, { kind: "faultTick" });
    this.queue.push(this.o.faultMs, { kind: "heal" });
    const end = this.o.faultMs + this.o.healMs;
    let finalReads = false;
    for (;;) {
      const e = this.queue.pop();
      if (!e) {
        if (!finalReads && this.violations.length === 0) {
          finalReads = true;
          this.startFinalReads();
          continue;
        }
        break;
      }
      if (e.at > end) {
        this.violations.push(`heal phase did not converge by ${end} ms: ${this.pendingOps()} operations pending`);
        break;
      }
      this.now = Math.max(this.now, e.at);
      this.events++;
      try {
        this.handle(e.event);
      } catch (err) {
        if (!(err instanceof AssertionFailed)) throw err;
        this.violations.push(`assertion failed: ${err.message}`);
      }
      if (this.violations.length > 0) break;
    }
    if (this.violations.length === 0 && this.pendingOps() > 0) this.violations.push(`${this.pendingOps()} operations never finished`);
    if (this.violations.length === 0) {
      const ops = this.history.operations();
      const v = checkAddressSpace(ops, { stepsMax: 5_000_000 });
      if (!v.ok) {
        const part = partitionByAddress(ops).find((p) => p.key === v.partition);
        const lines = (part?.ops ?? []).map((x) => `  op${x.id} c${x.client} [${x.call}, ${x.ret}] ${JSON.stringify(x.input)} → ${JSON.stringify(x.output) ?? "unknown"}`);
        this.violations.push(`history is not linearizable at ${v.partition}: ${JSON.stringify(v.verdict)}\n${lines.join("\n")}`);
      }
    }
    return {
      seed: this.o.seed,
      ok: this.violations.length === 0,
      violations: this.violations,
      events: this.events,
      virtualMs: this.now,
      traceHash: this.hash >>> 0,
      log: this.log,
      operations: this.history.operations().length,
      completed: this.completed,
    };
  }

  private record(line: string): void {
    this.hash = hashString32(`${this.now}:${line}`, this.hash);
    if (this.o.keepLog) this.log.push(`${this.now} ${line}`);
  }

  private pendingOps(): number {
    return this.pending.reduce((n, p) => n + p.size, 0);
  }

  private handle(e: Event): void {
    switch (e.kind) {
      case "toAcceptor": {
        const a = this.acceptors[e.to]!;
        if (!a.up || this.blocked.has(`${e.from}:${e.to}`)) {
          this.record(`drop>${e.to} #${e.frameId}`);
          return;
        }
        this.record(`a${e.to}<c${e.from} #${e.frameId} ${e.request.kind}`);
        const q = e.request;
        if (q.space === "s" && q.kind === "prepare") this.minority.ballotArrived(e.from, q.from, q.to);
        if (q.space === "s" && q.kind === "accept") for (const en of q.entries) this.minority.ballotArrived(e.from, en.index, en.index + 1);
        a.receive(e.from, e.frameId, e.request);
        for (const v of checkCommitted(this.ghost, [a.volatileState])) this.violations.push(`acceptor ${e.to}: ${v}`);
        return;
      }
      case "syncDone": {
        const a = this.acceptors[e.acceptor]!;
        if (a.epoch !== e.epoch || !a.up) return;
        this.record(`a${e.acceptor} synced`);
        const durable = a.syncDone(e.epoch);
        if (durable) this.votes[e.acceptor] = recordVotesFromMutations(this.votes[e.acceptor]!, durable);
        this.checkDurable();
        return;
      }
      case "toClient": {
        if (this.blocked.has(`${e.to}:${e.from}`)) {
          this.record(`drop>c${e.to} #${e.frameId}`);
          return;
        }
        this.record(`c${e.to}<a${e.from} #${e.frameId} ${e.reply.kind}`);
        this.clients[e.to]!.onReply(e.from, e.frameId, e.reply, this.now);
        this.drain(e.to);
        return;
      }
      case "clientTick":
        if (this.tickAt[e.client] !== this.now) return;
        this.tickAt[e.client] = undefined;
        this.clients[e.client]!.tick(this.now);
        this.drain(e.client);
        return;
      case "startOp":
        this.startOp(e.client);
        return;
      case "faultTick":
        this.faultTick();
        return;
      case "restart":
        // The heal restarts every acceptor that is down; a restart scheduled at its crash may come later.
        if (this.acceptors[e.acceptor]!.up) return;
        this.record(`a${e.acceptor} restart`);
        this.acceptors[e.acceptor]!.restart();
        for (let c = 0; c < this.o.clients; c++) this.linkUp(c, e.acceptor);
        return;
      case "partitionEnd":
        this.record(`heal c${e.client}|a${e.acceptor}`);
        this.blocked.delete(`${e.client}:${e.acceptor}`);
        this.linkUp(e.client, e.acceptor);
        return;
      case "heal": {
        this.record("heal");
        this.healed = true;
        const partitioned = [...this.blocked];
        this.blocked.clear();
        for (const key of partitioned) {
          const [c, a] = key.split(":").map(Number) as [number, number];
          this.linkUp(c, a);
        }
        for (const a of this.acceptors) if (!a.up) this.queue.push(this.now, { kind: "restart", acceptor: a.id });
        return;
      }
    }
  }

  // ---- Network and disks. ----
  /** A client's transport reports its link to an acceptor down (crash, partition) or back. */
  private linkDown(c: number, a: number, reason: string): void {
    this.clients[c]!.onLinkDown(a, reason, this.now);
    this.drain(c);
  }
  private linkUp(c: number, a: number): void {
    this.minority.reconnected(c, a);
    this.clients[c]!.onReconnect(a);
    this.drain(c);
  }
  private delay(): number {
    const f = this.healed ? 0 : this.o.faults.jitterMs;
    const slow = !this.healed && buggify("sim.net.slowMessage") ? 50 + this.prng.int(200) : 0;
    return 1 + this.prng.int(2) + (f > 0 ? this.prng.int(f + 1) : 0) + slow;
  }
  private transmit(event: Event, desc: string): void {
    const f = this.healed ? undefined : this.o.faults;
    if (f && this.prng.chance(f.loss)) {
      this.record(`lost ${desc}`);
      return;
    }
    this.queue.push(this.now + this.delay(), event);
    if (f && this.prng.chance(f.duplication)) {
      probe("sim.net.duplicated");
      this.queue.push(this.now + this.delay(), event);
    }
  }
  private reply(from: number, to: number, frames: readonly ServerFrame[]): void {
    for (const f of frames) {
      assert(f.kind === "reply", "this world watches nothing");
      this.transmit({ kind: "toClient", to, from, frameId: f.id, reply: f.reply }, `a${from}>c${to} #${f.id}`);
    }
  }
  private scheduleSync(a: SimAcceptor): void {
    const slow = buggify("sim.disk.slowSync") ? 20 + this.prng.int(60) : 0;
    this.queue.push(this.now + 1 + this.prng.int(2) + slow, { kind: "syncDone", acceptor: a.id, epoch: a.epoch });
  }

  private faultTick(): void {
    if (this.healed) return;
    const f = this.o.faults;
    const crashed = maybeCrashAcceptor(this.prng, this.acceptors, this.quorum, f.crash);
    if (crashed) {
      this.record(`a${crashed.acceptor.id} crash`);
      this.checkDurable();
      this.queue.push(this.now + crashed.restartInMs, { kind: "restart", acceptor: crashed.acceptor.id });
      for (let c = 0; c < this.o.clients; c++) this.linkDown(c, crashed.acceptor.id, "crashed");
    }
    if (this.prng.chance(f.partition)) {
      const client = this.prng.int(this.o.clients);
      const acceptor = this.prng.int(this.o.acceptors);
      this.record(`partition c${client}|a${acceptor}`);
      probe("sim.net.partition");
      this.blocked.add(`${client}:${acceptor}`);
      this.queue.push(this.now + 50 + this.prng.int(400), { kind: "partitionEnd", client, acceptor });
      this.linkDown(client, acceptor, "partitioned");
    }
    this.queue.push(this.now + 10, { kind: "faultTick" });
  }

  // ---- Clients and the workload. ----
  private drain(c: number): void {
    const core = this.clients[c]!;
    const out = core.takeOutputs();
    for (const s of out.sends) {
      if (s.frame.kind !== "request") continue;
      this.transmit({ kind: "toAcceptor", to: s.to, from: c, frameId: s.frame.id, request: s.frame.request }, `c${c}>a${s.to} #${s.frame.id}`);
    }
    for (const done of out.completions) this.complete(c, done);
    const wake = core.nextWakeup();
    if (wake === undefined) return;
    const at = Math.max(wake, this.now + 1);
    const scheduled = this.tickAt[c];
    if (scheduled === undefined || at < scheduled) {
      this.tickAt[c] = at;
      this.queue.push(at, { kind: "clientTick", client: c });
    }
  }

  private value(c: number): Uint8Array {
    const n = this.nextValue++;
    return new Uint8Array([c, n >> 8, n & 0xff]);
  }

  private startOp(c: number): void {
    if (this.healed || this.opsLeft[c]! <= 0) return;
    this.opsLeft[c]!--;
    const core = this.clients[c]!;
    const p = this.prng;
    const index = p.int(this.o.addresses);
    const held = this.captures[c];
    const r = p.int(100);
    let op: number;
    let pend: Pending;
    if (held && r < 60) {
      // Write under the capture we hold.
      const value = this.value(c);
      op = core.write(held, [{ index: held.from, value }], this.now);
      this.captures[c] = undefined;
      pend = this.invoke(c, "write", held.space, held.from, { kind: "write", value: showValue(value) }, value);
    } else if (r < 40) {
      const next = nextBallot(core.highestBallot, core.config.proposerId);
      op = core.capture("s", index, index + 1, this.now);
      pend = this.invoke(c, "capture", "s", index, { kind: "capture" });
      this.minority.start({
        client: c,
        op,
        index,
        acceptors: this.o.acceptors,
        quorum: this.quorum,
        next,
        reachable: (a) => this.acceptors[a]!.up && !this.blocked.has(`${c}:${a}`),
        promised: (a) => maxPromiseIn(this.acceptors[a]!.volatileState.spaces.get("s")!, index, index + 1),
      });
    } else if (r < 75) {
      const space = p.chance(0.7) ? "s" : "own";
      op = core.read(space, index, index + 1, p.chance(0.5), this.now);
      pend = this.invoke(c, "read", space, index, { kind: "read" });
    } else if (r < 92) {
      // Owner writes: address i of "own" belongs to client i % clients, which writes one value there.
      const mine = Array.from({ length: this.o.addresses }, (_, i) => i).filter((i) => i % this.o.clients === c);
      if (mine.length === 0) {
        this.opsLeft[c]!++;
        this.queue.push(this.now + 1, { kind: "startOp", client: c });
        return;
      }
      const i = p.pick(mine);
      const value = new Uint8Array([0xee, c, i]);
      op = core.unsafeWrite("own", [{ index: i, value }], this.now);
      pend = this.invoke(c, "unsafeWrite", "own", i, { kind: "write", value: showValue(value) }, value);
    } else {
      // Trim marks wander (a lower mark than before must change nothing).
      this.trimTarget = Math.max(0, Math.min(this.o.addresses, this.trimTarget + p.range(-1, 1)));
      op = core.trim("s", this.trimTarget, this.now);
      const h = this.history.invoke(c, { kind: "trim", space: "s", below: this.trimTarget });
      pend = { history: h, kind: "trim", space: "s", index: this.trimTarget };
    }
    this.record(`c${c} start ${pend.kind} ${pend.space}[${pend.index}] op${op}`);
    this.pending[c]!.set(op, pend);
    this.drain(c);
  }

  private invoke(c: number, kind: string, space: string, index: number, input: Extract<SpaceInput, { kind: "register" }>["op"], value?: Uint8Array): Pending {
    const history = this.history.invoke(c, { kind: "register", at: { space, index }, op: input });
    return value ? { history, kind, space, index, value } : { history, kind, space, index };
  }

  private startFinalReads(): void {
    // After the heal: a recovering read of every address must succeed and settle it.
    this.record("final reads");
    const c = 0;
    for (const space of SPACES) {
      for (let i = 0; i < this.o.addresses; i++) {
        const op = this.clients[c]!.read(space, i, i + 1, true, this.now);
        this.pending[c]!.set(op, { ...this.invoke(c, "finalRead", space, i, { kind: "read" }) });
      }
    }
    this.drain(c);
  }

  private complete(c: number, done: Completion): void {
    const pend = this.pending[c]!.get(done.op);
    if (!pend) return;
    this.pending[c]!.delete(done.op);
    const r = done.result;
    const v = r.ok ? (r.value instanceof Map ? r.value.get(pend.index) : r.value) : undefined;
    const tag = r.ok ? ((v as { _tag?: string } | undefined)?._tag ?? "ok") : `failed:${r.failure.code}`;
    this.record(`c${c} done op${done.op} ${pend.kind} ${tag}`);
    if (pend.kind === "capture") this.minority.finish(c, done.op, tag === "Captured");
    this.completed[`${pend.kind}:${tag}`] = (this.completed[`${pend.kind}:${tag}`] ?? 0) + 1;
    this.classify(c, pend, r);
    // A client told "unavailable" (a majority of its links down) backs off before its next operation.
    const backoff = !r.ok && r.failure.code === "unavailable" ? 50 + this.prng.int(100) : 0;
    if (pend.kind !== "finalRead") this.queue.push(this.now + backoff + this.prng.int(30), { kind: "startOp", client: c });
  }

  /** Record the outcome in the history and check what it claims against the ghost. */
  private classify(c: number, pend: Pending, r: OpResult<unknown>): void {
    const h = this.history;
    const { space, index } = pend;
    if (!r.ok) {
      probe(`wor.${pend.kind}.failed.${r.failure.code}`);
      if (pend.kind === "finalRead") this.violations.push(`final read of ${space}[${index}] failed after the heal: ${r.failure.message}`);
      if (pend.kind === "read" || pend.kind === "finalRead") h.fail(pend.history);
      else h.unknown(pend.history);
      return;
    }
    if (pend.kind === "trim") {
      h.ok(pend.history, { kind: "ok" });
      return;
    }
    if (pend.kind === "capture") {
      const v = r.value as CaptureResult;
      if (v._tag === "Preempted") {
        h.ok(pend.history, { kind: "preempted" });
        return;
      }
      if (v._tag === "Trimmed") {
        h.ok(pend.history, { kind: "trimmed" });
        return;
      }
      this.captures[c] = v.capture;
      const found = v.written.get(index);
      if (!found) {
        h.ok(pend.history, { kind: "captured" });
        return;
      }
      probe("wor.capture.finishedFoundValue");
      this.captures[c] = undefined;
      this.checks(checkReadValue(this.ghost, space, index, found));
      h.ok(pend.history, { kind: "written", value: showValue(found) });
      return;
    }
    if (pend.kind === "write" || pend.kind === "unsafeWrite") {
      const w = (r.value as Map<number, WriteResult>).get(index)!;
      if (w._tag === "Ok") {
        this.ack(space, index, pend.value!);
        h.ok(pend.history, { kind: "ok" });
        return;
      }
      if (w._tag === "AlreadyWritten") {
        probe(bytesEqual(w.value, pend.value!) ? "wor.write.alreadyWrittenSame" : "wor.write.alreadyWrittenOther");
        this.ack(space, index, w.value);
        h.ok(pend.history, { kind: "alreadyWritten", value: showValue(w.value) });
        return;
      }
      if (w._tag === "Trimmed") {
        // The value may have been chosen before a concurrent trim overtook the round: unknown.
        probe("wor.write.trimmedUnknown");
        h.unknown(pend.history);
        return;
      }
      probe("wor.write.preemptedUnknown");
      h.unknown(pend.history);
      return;
    }
    const rr = (r.value as Map<number, ReadResult>).get(index)!;
    if (rr._tag === "Written") {
      this.checks(checkReadValue(this.ghost, space, index, rr.value));
      h.ok(pend.history, { kind: "written", value: showValue(rr.value) });
      return;
    }
    if (rr._tag === "Pending") probe("wor.read.pending");
    if (rr._tag === "Pending" && pend.kind === "finalRead") this.violations.push(`final recovering read of ${space}[${index}] is still pending`);
    h.ok(pend.history, rr._tag === "Unwritten" ? { kind: "unwritten" } : rr._tag === "Trimmed" ? { kind: "trimmed" } : { kind: "pending" });
    return;
  }

  private ack(space: string, index: number, value: Uint8Array): void {
    this.acked.set(`${space}[${index}]`, { space, index, value });
    this.checks(checkAcked(this.ghost, this.durables(), this.quorum, space, index, value));
  }

  private checks(found: readonly string[]): void {
    for (const v of found) this.violations.push(v);
  }

  private durables(): AcceptorState[] {
    return this.acceptors.map((a) => a.durableState);
  }

  /** After durable state changed (a sync or a crash): what is chosen, and acked writes still durable. */
  private checkDurable(): void {
    const seen = observeChosen(this.ghost, this.votes, this.quorum);
    this.ghost = seen.ghost;
    this.checks(seen.violations);
    const durable = this.durables();
    for (const a of this.acked.values()) this.checks(checkAcked(this.ghost, durable, this.quorum, a.space, a.index, a.value));
  }
}

