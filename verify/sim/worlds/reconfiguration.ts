/**
 * Changing the acceptors in the simulator (docs/ARCHITECTURE.md §3.5), as wor/node/reconfigure.ts
 * does it over gRPC, under every fault. The change is drawn per seed:
 *
 * - **replace**: acceptor 2 goes away (held down with its disk) and the spare takes its slot;
 * - **add**: the spare joins in a fourth slot, under quorum 3;
 * - **remove**: acceptor 2 leaves (down with its disk, or up, told and retired), under quorum 2 of 2.
 *
 * At a random time a reconfigurer process
 *
 * 1. chooses configuration 1 in register 0 of the chain, under configuration 0, with a capture and
 *    a write (retried until chosen);
 * 2. fences: tells it to the acceptors of configuration 1 (messages, retried until each
 *    acknowledges; each adopts it once quiet, with later frames waiting, then ends the sessions it
 *    fenced, whose processes follow), and to a removed acceptor that is up;
 * 3. copies to the spare, when it joins, the join of the durable state of the acceptors that stay
 *    (`copySources`), over an installer session: spaces, trims, addresses, then range promises,
 *    each phase retried until every request is answered;
 * 4. activates the spare.
 *
 * A victim held down comes back later with its old state, never told: a zombie serving whoever
 * still runs epoch 0 (the fence keeps them from a quorum). The world's checks count quorums per
 * configuration.
 */
import { ownerOfSystemSpace } from "../../../paxos/limits.ts";
import type { Reply, Request } from "../../../paxos/messages.ts";
import { type Configuration, chooseConfiguration, copySources } from "../../../wor/core/configuration.ts";
import type { ServerFrame } from "../../../wor/core/frames.ts";
import { installRequests, joinRanges, joinReports, rangesRequest } from "../../../wor/core/state-copy.ts";
import { inspected } from "../../../wor/node/node-admin.ts";
import { probe } from "../../runtime/probe.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { acceptorName } from "../kernel/net.ts";
import type { SimProcess } from "../kernel/process.ts";

/** What the world learns from the reconfiguration, for its checks. */
export interface ReconfigurationHooks {
  /** Acceptor `acceptor` adopted configuration 1: its votes from now on are epoch 1's. */
  fenced(acceptor: number): void;
  /** Configuration 1 serves (its spare, if any, active): its acceptors hold every acknowledged write. */
  activated(): void;
}

export type ChangeKind = "replace" | "add" | "remove";

const RETRY_MS = 80;
/** Installer frame ids, above the client core's and the watches'. */
const INSTALL_ID_BASE = 2 ** 40;

export class Reconfiguration {
  readonly next: Configuration;
  /** Configuration 0. */
  readonly before: Configuration;
  /** Whether the victim (replace, remove) is held down from the start, to come back a zombie. */
  private readonly victimDown: boolean;
  private phase: "waiting" | "choosing" | "fencing" | "copying" | "activating" | "done" = "waiting";
  private readonly fenced = new Set<number>();
  private rc: SimProcess | undefined;
  private installer: SimProcess | undefined;
  /** Install requests not answered yet, by frame id; the phases still to send. */
  private unanswered = new Map<number, Request>();
  private phases: Request[][] = [];
  private nextId = INSTALL_ID_BASE;

  constructor(
    private readonly k: Kernel,
    private readonly o: { readonly change: ChangeKind; readonly victim: number; readonly spare: number; readonly at: number; readonly segmentSize: number },
    private readonly hooks: ReconfigurationHooks,
  ) {
    const member = (id: number) => ({ id, address: acceptorName(id) });
    const ids = Array.from({ length: k.options.acceptors }, (_, i) => i);
    this.before = { epoch: 0, quorum: k.quorum, acceptors: ids.map(member) };
    const members = o.change === "replace" ? ids.map((i) => (i === o.victim ? o.spare : i)) : o.change === "add" ? [...ids, o.spare] : ids.filter((i) => i !== o.victim);
    this.next = { epoch: 1, quorum: Math.floor(members.length / 2) + 1, acceptors: members.map(member) };
    this.victimDown = o.change === "replace" || (o.change === "remove" && k.prng.chance(0.5));
  }

  /** The spare joins (replace, add). */
  private get joins(): boolean {
    return this.o.change !== "remove";
  }

  get done(): boolean {
    return this.phase === "done";
  }

  begin(): void {
    this.k.later(this.o.at, () => this.start());
  }

  /** A reply to the installer; true if it was one. */
  replied(p: SimProcess, frame: Extract<ServerFrame, { kind: "reply" }>): boolean {
    if (p !== this.installer) return false;
    const request = this.unanswered.get(frame.id);
    if (!request) return true;
    this.unanswered.delete(frame.id);
    const r: Reply = frame.reply;
    if (r.kind === "error") this.k.check([`install on acceptor ${this.o.spare} refused: ${r.code}: ${r.message} (${request.kind} of ${request.space})`]);
    if (this.unanswered.size === 0) this.sendPhase();
    return true;
  }

  private start(): void {
    this.k.record(`reconfiguration: ${this.o.change} (acceptor ${this.o.victim}${this.victimDown ? " goes away" : ""}, spare ${this.o.spare})`);
    if (this.victimDown) this.k.takeDown(this.o.victim);
    this.rc = this.k.procs.spawn("rc", { segmentSize: this.o.segmentSize });
    this.phase = "choosing";
    this.choose();
  }

  private choose(): void {
    if (!this.rc!.alive) return;
    this.k.procs.start(this.rc!, chooseConfiguration(this.next), (r) => {
      if (r.kind !== "chosen") return this.k.later(RETRY_MS, () => this.choose());
      this.k.record("reconfiguration: epoch 1 chosen");
      this.phase = "fencing";
      this.fence();
    });
  }

  private fence(): void {
    if (this.phase !== "fencing") return;
    const targets = this.next.acceptors.map((m) => m.id).filter((id) => !this.fenced.has(id));
    if (targets.length === 0) {
      if (this.joins) this.copy();
      else this.serve();
      return;
    }
    // A removed acceptor that is up is told too (and retires), as the reconfigurer tells everyone.
    const leaving = this.o.change === "remove" && !this.victimDown && !this.fenced.has(this.o.victim) ? [this.o.victim] : [];
    for (const t of [...targets, ...leaving]) {
      this.k.message("rc", acceptorName(t), `rc>a${t} reconfigure`, () => this.tell(t), false);
    }
    this.k.later(RETRY_MS, () => this.fence());
  }

  private tell(t: number): void {
    const a = this.k.acceptors[t]!;
    if (!a.up || a.changing) return;
    a.changeMembership(
      (m) => m.tell(this.next),
      (c) => {
        if (c.kind === "refused") return;
        if (c.kind === "adopt") this.hooks.fenced(t); // at the adoption itself: votes after it are epoch 1's
        this.k.message(acceptorName(t), "rc", `a${t}>rc reconfigured`, () => {
          if (this.fenced.has(t)) return;
          this.fenced.add(t);
          probe("sim.reconfiguration.fenced");
        }, false);
      },
    );
  }

  /** Once fenced: the join of the stay-ers' durable state, as phases of install requests. */
  private copy(): void {
    if (this.phase !== "fencing") return;
    const sources = copySources(this.before, this.next, [...this.fenced])!.map((m) => m.id);
    if (sources.some((id) => !this.k.acceptors[id]!.up)) return void this.k.later(RETRY_MS, () => this.copy());
    this.phase = "copying";
    const states = sources.map((id) => this.k.acceptors[id]!.durableState);
    const names = [...new Set(states.flatMap((s) => [...s.spaces.keys()]))].sort();
    const spaces: Request[] = names.filter((n) => ownerOfSystemSpace(n) === undefined).map((space) => ({ kind: "createSpace", space }));
    const trims: Request[] = [];
    const addresses: Request[] = [];
    const ranges: Request[] = [];
    for (const space of names) {
      const reports = states.flatMap((s) => (s.spaces.has(space) ? [inspected(s, { space, from: 0, to: 1 << 20 })] : []));
      const mark = Math.max(...reports.map((r) => r.trimMark));
      if (mark > 0) trims.push({ kind: "trim", space, below: mark });
      addresses.push(...installRequests(space, joinReports(reports.map((r) => r.addresses.filter((x) => x.index >= mark)))));
      ranges.push(rangesRequest(space, joinRanges(reports.map((r) => r.ranges))));
    }
    this.phases = [spaces, trims, addresses, ranges].filter((p) => p.length > 0);
    this.installer = this.k.procs.spawn("rci", { segmentSize: this.o.segmentSize });
    this.installer.installer = true;
    this.k.follow(this.installer, this.next);
    this.k.record(`reconfiguration: copying ${addresses.length} install requests from ${sources.join(", ")}`);
    this.sendPhase();
  }

  private sendPhase(): void {
    const requests = this.phases.shift();
    if (!requests) {
      this.activate();
      return;
    }
    for (const request of requests) this.unanswered.set(this.nextId++, request);
    this.resend();
  }

  private resend(): void {
    if (this.phase !== "copying" || this.unanswered.size === 0) return;
    const slot = this.installer!.slotOf(this.o.spare)!;
    for (const [id, request] of this.unanswered) this.k.sendFrame(this.installer!, slot, { id, kind: "request", request });
    this.k.later(RETRY_MS, () => this.resend());
  }

  private activate(): void {
    this.phase = "activating";
    const spare = this.k.acceptors[this.o.spare]!;
    const go = () => {
      if (this.phase !== "activating") return;
      if (spare.up && !spare.changing) {
        spare.changeMembership(
          (m) => m.activate(),
          (c) => {
            if (c.kind === "refused" || this.phase !== "activating") return;
            this.k.record(`reconfiguration: acceptor ${this.o.spare} active`);
            this.serve();
          },
        );
      }
      this.k.later(RETRY_MS, go);
    };
    go();
  }

  /** Configuration 1 serves. A victim held down comes back later with its old state, never told: a zombie. */
  private serve(): void {
    this.phase = "done";
    probe("sim.reconfiguration.activated");
    probe(`sim.reconfiguration.${this.o.change}`);
    this.hooks.activated();
    if (this.victimDown) this.k.later(50 + this.k.prng.int(400), () => this.k.release(this.o.victim));
  }
}
