/**
 * The register world's workload (worlds/wor.ts): clients running register operations as app
 * generators (wor/core/steps.ts), one at a time each, and a watcher.
 *
 *  - range captures of "s" (one to `rangeMax` addresses), then writes under the capture held: one
 *    write may cover several of its addresses, and what is left may be written by a second write;
 *    sometimes the writer is slow (buggified), holding its capture while others capture over it and
 *    acceptors crash and restart. Captures of ranges holding values finish them (re-capture).
 *  - reads of ranges of "s" and "own", with and without recovery;
 *  - owner writes (`unsafeWrite`, an app step of this world's): address i of "own" belongs to client
 *    i % clients, which writes one value there;
 *  - allocations raced by every client (each with its own metadata) and checks of them;
 *  - trims of "s" whose marks wander up and down, reaching the allocation registers too;
 *  - a watcher process watching every space: what it is told is checked by the world.
 *
 * Every outcome goes to the history, one register operation per address (verify/spec/address-space.ts),
 * and what it claims is checked against the ghost (`WorChecks`).
 */
import { maxPromiseIn } from "../../../paxos/acceptor.ts";
import { nextBallot } from "../../../paxos/ballot.ts";
import { allocSpaceOf } from "../../../paxos/limits.ts";
import type { Entry } from "../../../paxos/messages.ts";
import type { Capture, CaptureResult, CheckResult, OpResult, ReadResult, WriteResult } from "../../../wor/core/results.ts";
import { sleep } from "../../../wor/core/steps.ts";
import { HistoryRecorder } from "../../history/history.ts";
import { bytesEqual } from "../../runtime/bytes.ts";
import { buggify } from "../../runtime/buggify.ts";
import { probe } from "../../runtime/probe.ts";
import type { SpaceInput, SpaceOutput } from "../../spec/address-space.ts";
import type { RegisterOutput } from "../../spec/register.ts";
import { showValue } from "../../spec/register-invariants.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { SimProcess } from "../kernel/process.ts";
import type { MinorityWatch } from "./minority.ts";
import { type WorGen, type WorOptions, run } from "./wor-options.ts";

/** What the workload asks of the world: checks against the ghost. */
export interface WorChecks {
  /** An operation reported `value` chosen at space[index] (`by`: a read, a capture, a check, a watch). */
  reported(space: string, index: number, value: Uint8Array, by?: string): void;
  /** A write of `value` at space[index] was acknowledged (ok, or already written). */
  acked(space: string, index: number, value: Uint8Array): void;
  /** A trim of `space` below `below` returned ok. */
  trimAcked(space: string, below: number): void;
}

type Op = Extract<SpaceInput, { kind: "register" }>["op"];

interface Client {
  readonly index: number;
  readonly proc: SimProcess;
  opsLeft: number;
  /** The capture held, its addresses not yet written under it, and how many writes it made. */
  held: { readonly capture: Capture; readonly free: readonly number[]; readonly writes: number } | undefined;
}

export class WorWorkload {
  readonly history = new HistoryRecorder<SpaceInput, SpaceOutput>();
  /** Operations started and not finished. */
  pending = 0;
  /** Trims in flight (a crash meanwhile is a trim under a crash). */
  trimsInFlight = 0;
  private readonly clients: Client[] = [];
  private readonly alloc: string;
  private nextValue = 1;
  private nextOp = 1;
  private trimTarget = 0;

  constructor(
    private readonly k: Kernel,
    private readonly o: WorOptions,
    private readonly checks: WorChecks,
    private readonly minority: MinorityWatch,
  ) {
    this.alloc = allocSpaceOf("s");
  }

  begin(): void {
    for (let c = 0; c < this.o.clients; c++) {
      const client: Client = { index: c, proc: this.spawn(`c${c}`), opsLeft: this.o.opsPerClient, held: undefined };
      this.clients.push(client);
      this.k.later(this.k.prng.int(20), () => this.next(client));
    }
    for (let w = 0; w < this.o.watchers; w++) {
      const proc = this.spawn(`w${w}`);
      for (const space of ["s", "own", this.alloc]) this.k.procs.watch(proc, space, 0);
    }
  }

  /** A value pushed to a watch: chosen, and a read of it at this instant. */
  learned(proc: SimProcess, space: string, index: number, value: Uint8Array): void {
    probe("wor.watch.learned");
    this.checks.reported(space, index, value, "watch");
    const h = this.history.invoke(this.o.clients, { kind: "register", at: { space, index }, op: { kind: "read" } });
    this.history.ok(h, { kind: "written", value: showValue(value) });
    this.k.record(`${proc.label} learned ${space}[${index}] ${showValue(value)}`);
  }

  /** After the heal: a recovering read of every address and a check of every segment must succeed. */
  final(): void {
    this.k.record("final reads");
    const c = this.clients[0]!;
    for (const space of ["s", "own"]) {
      const at = this.invokeAll(c, space, 0, this.o.addresses, { kind: "read" });
      this.go(c, "finalRead", run({ kind: "read", space, from: 0, to: this.o.addresses, recover: true }), (r) => this.readDone(at, space, 0, r, true), true);
    }
    for (let seg = 0; seg < this.o.segments; seg++) {
      const [h] = this.invokeAll(c, this.alloc, seg, seg + 1, { kind: "read" });
      this.go(c, "finalCheck", run({ kind: "check", space: "s", segment: seg }), (r) => this.checkDone(h!, seg, r, true), true);
    }
  }

  private spawn(name: string): SimProcess {
    // Few preempt retries, so that captures also run out of them under contention.
    return this.k.procs.spawn(name, { segmentSize: this.o.segmentSize, preemptRetriesMax: 3 });
  }

  /** Run `gen` on client `c`; `done` classifies its result; then (unless `last`) the client's next operation. */
  private go<T>(c: Client, kind: string, gen: WorGen<T>, done: (r: T) => void, last = false): void {
    this.pending++;
    const op = this.nextOp++;
    this.k.record(`${c.proc.label} start ${kind} op${op}`);
    this.k.procs.start(c.proc, gen, (r) => {
      this.pending--;
      const res = r as OpResult<unknown>;
      const tag = res.ok ? tagOf(res.value) : `failed:${res.failure.code}`;
      this.k.record(`${c.proc.label} done op${op} ${kind} ${tag}`);
      this.k.outcome(`${kind}:${tag}`);
      probe(res.ok ? `wor.${kind}.ok` : `wor.${kind}.failed.${res.failure.code}`);
      done(r);
      if (last) return;
      // A client told "unavailable" (a majority of its links down) backs off before its next operation.
      const backoff = !res.ok && res.failure.code === "unavailable" ? 50 + this.k.prng.int(100) : 0;
      this.k.later(backoff + this.k.prng.int(30), () => this.next(c));
    });
  }

  private next(c: Client): void {
    if (this.k.healed || c.opsLeft <= 0) return;
    c.opsLeft--;
    const p = this.k.prng;
    const r = p.int(100);
    if (c.held && r < 60) this.write(c, c.held);
    else if (r < 35) this.capture(c);
    else if (r < 57) this.read(c);
    else if (r < 70) this.ownerWrite(c);
    else if (r < 81) this.allocate(c);
    else if (r < 90) this.check(c);
    else this.trim(c);
  }

  /** A range [i, i + n) of `addresses`, n ≤ `rangeMax`. */
  private range(): { from: number; to: number } {
    const p = this.k.prng;
    const from = p.int(this.o.addresses);
    return { from, to: from + 1 + p.int(Math.min(this.o.rangeMax, this.o.addresses - from)) };
  }

  private capture(c: Client): void {
    const { from, to } = this.range();
    const at = this.invokeAll(c, "s", from, to, { kind: "capture" });
    // Watched from before its prepare leaves; `op` is the id `go` gives it below.
    const op = this.nextOp;
    const core = c.proc.wor;
    this.minority.start({
      client: c.proc.endpoint,
      op,
      from,
      to,
      acceptors: this.o.acceptors,
      quorum: this.k.quorum,
      next: nextBallot(core.highestBallot, core.config.proposerId),
      reachable: (a) => this.k.reachable(c.proc, a),
      settled: (a) => !this.k.acceptors[a]!.storage.reading,
      promised: (a) => maxPromiseIn(this.k.acceptors[a]!.volatileState.spaces.get("s")!, from, to),
    });
    c.held = undefined;
    this.go(c, "capture", run({ kind: "capture", space: "s", from, to }), (r) => {
      this.minority.finish(c.proc.endpoint, op, r.ok && r.value._tag === "Captured");
      this.captureDone(c, at, from, r);
    });
  }

  private captureDone(c: Client, at: readonly number[], from: number, r: OpResult<CaptureResult>): void {
    const h = this.history;
    const free: number[] = [];
    for (const [k, id] of at.entries()) {
      const i = from + k;
      if (!r.ok) h.unknown(id);
      else if (r.value._tag === "Preempted") h.ok(id, { kind: "preempted" });
      // Addresses below the mark are trimmed; above it the capture may have finished values first.
      else if (r.value._tag === "Trimmed" && i < r.value.mark) h.ok(id, { kind: "trimmed" });
      else if (r.value._tag === "Trimmed") h.unknown(id);
      else {
        const found = r.value.written.get(i);
        if (found) this.checks.reported("s", i, found);
        else free.push(i);
        h.ok(id, found ? { kind: "written", value: showValue(found) } : { kind: "captured" });
      }
    }
    if (!r.ok || r.value._tag !== "Captured") return;
    const v = r.value;
    if (v.written.size > 0) probe(at.length > 1 ? "wor.capture.rangeFoundValues" : "wor.capture.finishedFoundValue");
    if (free.length > 0) c.held = { capture: v.capture, free, writes: 0 };
  }

  /** Write some of the held capture's free addresses (maybe after a pause, holding it). */
  private write(c: Client, held: NonNullable<Client["held"]>): void {
    const p = this.k.prng;
    const picked = held.free.filter(() => p.chance(0.6));
    const indexes = picked.length > 0 ? picked : [p.pick(held.free)];
    const entries: Entry[] = indexes.map((index) => ({ index, value: this.value(c.index) }));
    const left = held.free.filter((i) => !indexes.includes(i));
    // What is left may be written by a later write under the same capture.
    c.held = left.length > 0 && p.chance(0.5) ? { capture: held.capture, free: left, writes: held.writes + 1 } : undefined;
    const slowMs = buggify("sim.wor.slowWriter") ? 100 + p.int(400) : 0;
    const at = entries.map((e) => this.invoke(c, "s", e.index, { kind: "write", value: showValue(e.value) }));
    function* gen(): WorGen<OpResult<Map<number, WriteResult>>> {
      if (slowMs > 0) yield* sleep(slowMs);
      return yield* run({ kind: "write", capture: held.capture, entries });
    }
    this.go(c, "write", gen(), (r) => {
      const ok = r.ok && entries.every((e) => r.value.get(e.index)!._tag === "Ok");
      if (ok && entries.length > 1) probe("wor.write.rangeUnderOneCapture");
      if (ok && held.writes > 0) probe("wor.write.secondUnderOneCapture");
      this.writeDone("s", entries, at, r);
    });
  }

  private writeDone(space: string, entries: readonly Entry[], at: readonly number[], r: OpResult<Map<number, WriteResult>>): void {
    const h = this.history;
    for (const [k, e] of entries.entries()) {
      const id = at[k]!;
      const w = r.ok ? r.value.get(e.index)! : undefined;
      if (w?._tag === "Ok") {
        this.checks.acked(space, e.index, e.value);
        h.ok(id, { kind: "ok" });
      } else if (w?._tag === "AlreadyWritten") {
        probe(bytesEqual(w.value, e.value) ? "wor.write.alreadyWrittenSame" : "wor.write.alreadyWrittenOther");
        this.checks.acked(space, e.index, w.value);
        h.ok(id, { kind: "alreadyWritten", value: showValue(w.value) });
      } else {
        // Failed, preempted, or trimmed while the trim was maybe in flight: the value may have been chosen.
        if (w) probe(w._tag === "Trimmed" ? "wor.write.trimmedUnknown" : "wor.write.preemptedUnknown");
        h.unknown(id);
      }
    }
  }

  private read(c: Client, space = this.k.prng.chance(0.7) ? "s" : "own"): void {
    const { from, to } = this.range();
    const recover = this.k.prng.chance(0.5);
    const at = this.invokeAll(c, space, from, to, { kind: "read" });
    this.go(c, "read", run({ kind: "read", space, from, to, recover }), (r) => this.readDone(at, space, from, r, false));
  }

  private readDone(at: readonly number[], space: string, from: number, r: OpResult<Map<number, ReadResult>>, final: boolean): void {
    const h = this.history;
    if (!r.ok && final) this.k.check([`final read of ${space} failed after the heal: ${r.failure.message}`]);
    for (const [k, id] of at.entries()) {
      const i = from + k;
      if (!r.ok) {
        h.fail(id);
        continue;
      }
      const v = r.value.get(i)!;
      if (v._tag === "Written") this.checks.reported(space, i, v.value);
      if (v._tag === "Pending") probe("wor.read.pending");
      if (v._tag === "Pending" && final) this.k.check([`final recovering read of ${space}[${i}] is still pending`]);
      h.ok(id, readOutput(v));
    }
  }

  private ownerWrite(c: Client): void {
    const mine = Array.from({ length: this.o.addresses }, (_, i) => i).filter((i) => i % this.o.clients === c.index);
    if (mine.length === 0) {
      this.read(c, "own");
      return;
    }
    const i = this.k.prng.pick(mine);
    const entries = [{ index: i, value: new Uint8Array([0xee, c.index, i]) }];
    const at = [this.invoke(c, "own", i, { kind: "write", value: showValue(entries[0]!.value) })];
    this.go(c, "unsafeWrite", run({ kind: "ownerWrite", space: "own", entries }), (r) => this.writeDone("own", entries, at, r));
  }

  /** Every client races for the same few segments, each with its own metadata. */
  private allocate(c: Client): void {
    const seg = this.k.prng.int(this.o.segments);
    const meta = this.value(c.index);
    const [h] = this.invokeAll(c, this.alloc, seg, seg + 1, { kind: "write", value: showValue(meta) });
    this.go(c, "alloc", run({ kind: "alloc", space: "s", segment: seg, meta }), (r) => {
      if (!r.ok || r.value._tag === "Trimmed") {
        this.history.unknown(h!);
        return;
      }
      const won = r.value._tag === "Allocated";
      if (!won) probe("wor.alloc.raced");
      this.checks.acked(this.alloc, seg, r.value.meta);
      this.history.ok(h!, won ? { kind: "ok" } : { kind: "alreadyWritten", value: showValue(r.value.meta) });
    });
  }

  private check(c: Client): void {
    const seg = this.k.prng.int(this.o.segments);
    const [h] = this.invokeAll(c, this.alloc, seg, seg + 1, { kind: "read" });
    this.go(c, "check", run({ kind: "check", space: "s", segment: seg }), (r) => this.checkDone(h!, seg, r, false));
  }

  private checkDone(h: number, seg: number, r: OpResult<CheckResult>, final: boolean): void {
    if (!r.ok) {
      if (final) this.k.check([`final check of segment ${seg} failed after the heal: ${r.failure.message}`]);
      this.history.fail(h);
      return;
    }
    const v = r.value;
    if (final && v._tag === "Pending") this.k.check([`final check of segment ${seg} is still pending`]);
    if (v._tag === "Allocated") this.checks.reported(this.alloc, seg, v.meta);
    this.history.ok(h, v._tag === "Allocated" ? { kind: "written", value: showValue(v.meta) } : v._tag === "Unallocated" ? { kind: "unwritten" } : readOutput(v));
  }

  /** Trim marks wander (a lower mark than before must change nothing); a trim of "s" also trims
   *  the allocation registers of the segments wholly below its mark. */
  private trim(c: Client): void {
    const below = (this.trimTarget = Math.max(0, Math.min(this.o.trimMax, this.trimTarget + this.k.prng.range(-1, 1))));
    const segments = Math.floor(below / this.o.segmentSize);
    const trims: [string, number][] = segments > 0 ? [["s", below], [this.alloc, segments]] : [["s", below]];
    const at = trims.map(([space, mark]) => this.history.invoke(c.index, { kind: "trim", space, below: mark }));
    this.trimsInFlight++;
    this.go(c, "trim", run({ kind: "trim", space: "s", below }), (r) => {
      this.trimsInFlight--;
      for (const [k, [space, mark]] of trims.entries()) {
        if (r.ok) this.checks.trimAcked(space, mark);
        if (r.ok) this.history.ok(at[k]!, { kind: "ok" });
        else this.history.unknown(at[k]!);
      }
    });
  }

  private value(c: number): Uint8Array {
    const n = this.nextValue++;
    return new Uint8Array([c, n >> 8, n & 0xff]);
  }

  private invoke(c: Client, space: string, index: number, op: Op): number {
    return this.history.invoke(c.index, { kind: "register", at: { space, index }, op });
  }

  private invokeAll(c: Client, space: string, from: number, to: number, op: Op): number[] {
    return Array.from({ length: to - from }, (_, k) => this.invoke(c, space, from + k, op));
  }
}

const tagOf = (v: unknown): string => (v instanceof Map ? [...new Set([...v.values()].map((x: { _tag: string }) => x._tag))].sort().join("+") : typeof v === "object" && v !== null && "_tag" in v ? String(v._tag) : "ok");

function readOutput(v: ReadResult | CheckResult): RegisterOutput {
  switch (v._tag) {
    case "Written":
      return { kind: "written", value: showValue(v.value) };
    case "Unwritten":
    case "Unallocated":
      return { kind: "unwritten" };
    case "Pending":
      return { kind: "pending" };
    case "Trimmed":
      return { kind: "trimmed" };
    case "Allocated":
      return { kind: "written", value: showValue(v.meta) };
  }
}
