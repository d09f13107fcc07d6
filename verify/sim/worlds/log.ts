/**
 * The shared-log world (docs/ARCHITECTURE.md §4.1, §5): a sequencer process running the real `SequencerCore`
 * (worlds/log-sequencer.ts) and appenders and readers running the real log operations (apps/log/core)
 * as app generators (worlds/log-workload.ts), each behind its own WOR client core. Token requests
 * are the log's own step: the world sends them to whichever sequencer runs when they arrive, over
 * an ordered stream per link (as over gRPC), or as datagrams under `tokenDisorder`.
 *
 * Faults besides the kernel's: partitions between a process and the sequencer, sequencer crashes
 * (a new incarnation with a new owner starts later and recovers with a higher ballot) and takeovers
 * (the old sequencer runs on for a while), appenders crashing at a write (before or after sending
 * it; a fresh incarnation retries the key), slow appender writes (readers fill the hole first).
 *
 * Checks: after every sync, the slots chosen at a quorum are fed to the `LogObserver` (the log's
 * invariants); the workload feeds it what operations returned. After the heal: the final reads and
 * the observer's final check. At the end: the history against the log spec (verify/spec/log.ts).
 */
import { FILL_BYTES } from "../../../apps/log/core/entry.ts";
import type { SequencerCore } from "../../../apps/log/core/sequencer.ts";
import { LogObserver } from "../../../apps/log/core/invariants.ts";
import { slotRead } from "../../../apps/log/core/read.ts";
import type { LogGen, LogResult, TokensStep } from "../../../apps/log/core/steps.ts";
import type { Grant } from "../../../apps/log/core/tokens.ts";
import type { Mutation } from "../../../paxos/messages.ts";
import { spaceSetup } from "../../../wor/core/space-meta.ts";
import type { RegisterStep, Step } from "../../../wor/core/steps.ts";
import type { CaptureResult, OpResult } from "../../../wor/core/results.ts";
import { HistoryRecorder } from "../../history/history.ts";
import { buggify } from "../../runtime/buggify.ts";
import { probe } from "../../runtime/probe.ts";
import { type LogInput, type LogOutput, checkLogHistory } from "../../spec/log.ts";
import type { SimAcceptor } from "../kernel/acceptor.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { acceptorName } from "../kernel/net.ts";
import type { SimProcess } from "../kernel/process.ts";
import type { World, WorldDef } from "../kernel/world.ts";
import { ChosenSlots } from "./log-chosen.ts";
import { LogCoverage } from "./log-coverage.ts";
import { LOG_WORLD_DEFAULTS, type LogWorldOptions } from "./log-options.ts";
import { LOG_NAME, SequencerService, sequencerOwner } from "./log-sequencer.ts";
import { type LogHost, type Role, LogWorkload } from "./log-workload.ts";

type WriteStep = Extract<RegisterStep, { kind: "write" }>;

const TOKEN_TIMEOUT_MS = 300;
const SEQ = "seq";

export const logWorld: WorldDef<LogWorldOptions> = {
  layer: "log",
  title: "the whole shared-log stack: sequencer, appenders, readers, failovers",
  defaults: LOG_WORLD_DEFAULTS,
  buggifySalt: 0x1b873593,
  setup: (o) => spaceSetup(LOG_NAME, { kind: "log", segmentSize: o.segmentSize }),
  create: (kernel, o) => new LogWorld(kernel, o),
};

class LogWorld implements World, LogHost {
  readonly observer = new LogObserver();
  readonly history = new HistoryRecorder<LogInput, LogOutput>();
  private readonly workload: LogWorkload;
  private readonly chosen: ChosenSlots;
  private readonly coverage: LogCoverage;
  private readonly roles = new WeakMap<SimProcess, Role>();
  private seq: SimProcess | undefined;
  /** Token asks in flight: ask id → the process and step waiting for the grant. */
  private readonly asks = new Map<number, { readonly proc: SimProcess; readonly stepId: number }>();
  private nextAsk = 1;
  /** Sequencers seen deposed (they gave way to a newer one). */
  private readonly gaveWay = new Set<number>();

  constructor(
    readonly k: Kernel,
    readonly options: LogWorldOptions,
  ) {
    this.chosen = new ChosenSlots(LOG_NAME, k.quorum);
    this.coverage = new LogCoverage(options.segmentSize);
    this.workload = new LogWorkload(this);
  }

  get pending(): number {
    return this.workload.pending;
  }
  get operations(): number {
    return this.history.operations().length;
  }
  begin(): void {
    this.startSequencer();
    this.workload.begin();
  }
  final(): void {
    this.workload.final();
  }
  finish(): readonly string[] {
    if (!this.workload.finalDone) return ["the final reads did not finish"];
    const v = checkLogHistory(this.history.operations(), { stepsMax: 5_000_000 });
    return v.ok ? [] : v.violations;
  }

  // ---- LogHost: what the workload uses. ----
  spawn(name: string, role: Role): SimProcess {
    const p = this.k.procs.spawn(name, { segmentSize: this.options.segmentSize });
    this.roles.set(p, role);
    return p;
  }
  runOp<T>(p: SimProcess, gen: LogGen<T>, done: (value: T) => void): void {
    this.k.procs.start(p, gen, done);
  }

  // ---- Hooks. ----
  step(p: SimProcess, id: number, step: Step): boolean {
    if (step.kind === "tokens") {
      this.askTokens(p, id, step as TokensStep);
      return true;
    }
    if (step.kind !== "write") return false;
    const role = this.roles.get(p);
    if (role === "reader" && (step as WriteStep).entries.every((e) => e.value === FILL_BYTES)) probe("log.reader.fillHole");
    if (role !== "appender" || !this.options.keyRetries || this.k.healed) return false;
    if (this.k.prng.chance(this.options.faults.appenderCrash)) {
      if (this.k.prng.chance(0.5)) {
        probe("log.appender.crashBeforeWrite");
        this.k.procs.kill(p);
        return true;
      }
      probe("log.appender.crashAfterWrite");
      p.crashAfterSend = true;
      return false;
    }
    if (!buggify("sim.log.slowAppenderWrite")) return false;
    // A slow appender: readers time the hole out and fill it first.
    this.k.later(100 + this.k.prng.int(300), () => this.k.procs.startStep(p, id, step as WriteStep));
    return true;
  }

  answered(p: SimProcess, step: Step, result: unknown): void {
    if (step.kind !== "capture") return;
    const r = result as OpResult<CaptureResult>;
    if (r.ok && r.value._tag === "Captured" && r.value.written.size > 0) {
      const role = this.roles.get(p)!;
      probe(role === "sequencer" ? "log.seq.captureFoundValues" : `log.${role}.captureFoundValue`);
    }
  }

  synced(a: SimAcceptor, durable: readonly Mutation[]): void {
    for (const v of this.chosen.add(a.id, durable)) {
      const read = slotRead(v.slot, v.value);
      if (!read.ok) this.k.check([`slot ${v.slot}: chosen bytes are not a log value: ${read.failure.message}`]);
      else if (read.value.kind !== "unwritten") this.k.check(this.observer.observe(read.value));
    }
  }

  /** A partition cuts a process from an acceptor, or (30%) an appender or reader from the sequencer. */
  link(): readonly [string, string] | undefined {
    const name = this.k.prng.pick(this.k.procs.names());
    return [name, name !== SEQ && this.k.prng.chance(0.3) ? SEQ : acceptorName(this.k.prng.int(this.options.acceptors))];
  }

  faults(): void {
    const f = this.options.faults;
    const seq = this.seq;
    if (seq && this.k.prng.chance(f.sequencerCrash)) {
      probe("log.sequencer.crash");
      this.kill(seq);
      this.k.later(50 + this.k.prng.int(300), () => {
        if (!this.seq) this.startSequencer();
      });
    } else if (seq && this.k.prng.chance(f.sequencerReplace)) {
      // A takeover: the new sequencer starts now; the old one runs on for a while (its grants and
      // register rounds still in flight) but gets no new requests.
      probe("log.sequencer.takeover");
      this.startSequencer();
      this.k.later(100 + this.k.prng.int(400), () => this.kill(seq));
    }
  }

  healed(): void {
    if (!this.seq) this.startSequencer();
  }

  // ---- The sequencer and its tokens. ----
  private startSequencer(): void {
    const seg = this.options.segmentSize;
    const s = this.k.procs.spawn(
      SEQ,
      { segmentSize: seg },
      (endpoint) =>
        new SequencerService(
          endpoint,
          this.options,
          (ask, result) => this.sendGrant(endpoint, ask, result),
          (core) => this.ran(endpoint, core),
        ),
    );
    this.roles.set(s, "sequencer");
    this.seq = s;
  }

  /** Sequencer `endpoint` ran: the newest one must never be deposed (nobody is newer to give way to). */
  private ran(endpoint: number, core: SequencerCore): void {
    this.coverage.ran(endpoint, core);
    if (core.status.phase !== "deposed" || this.gaveWay.has(endpoint)) return;
    this.gaveWay.add(endpoint);
    if (this.seq?.endpoint === endpoint) this.k.check([`the newest sequencer (${sequencerOwner(endpoint)}) was deposed: it gave way to an older one`]);
    else probe("log.sequencer.gaveWay");
  }

  private kill(p: SimProcess): void {
    if (this.seq === p) this.seq = undefined;
    this.k.procs.kill(p);
  }

  private askTokens(p: SimProcess, stepId: number, step: TokensStep): void {
    const ask = this.nextAsk++;
    this.asks.set(ask, { proc: p, stepId });
    this.send(p.name, SEQ, `ask${ask}`, () => {
      const seq = this.seq;
      // The asker's stream died with it; a sequencer that is down takes nothing.
      if (!seq || !p.alive) return this.k.record(`drop>seq ask${ask}`);
      this.k.record(`seq<${p.label} ask${ask} ${step.request.asks.length}`);
      (seq.service as SequencerService).core.request(ask, step.request, this.k.now);
      this.k.procs.settle(seq);
    });
    const timeout: LogResult<Grant> = { ok: false, failure: { code: "timeout", message: `no grant within ${TOKEN_TIMEOUT_MS} ms` } };
    this.k.procs.answerLater(p, stepId, timeout, TOKEN_TIMEOUT_MS);
  }

  /** Sequencer `from` granted ask `ask`. */
  private sendGrant(from: number, ask: number, result: LogResult<Grant>): void {
    const to = this.asks.get(ask);
    if (!to) return;
    this.asks.delete(ask);
    if (result.ok) this.coverage.issued(from, result.value.tokens, (e) => this.k.procs.get(e) !== undefined);
    this.send(SEQ, to.proc.name, `ask${ask} grant`, () => {
      if (!to.proc.alive) return this.k.record(`drop>${to.proc.label} grant`);
      this.k.record(`${to.proc.label}<seq grant ${result.ok ? result.value.tokens.map((t) => `${t.slot}${t.priors.length === 0 ? "" : `(priors ${t.priors.join(" ")})`}`).join(",") : result.failure.code}`);
      if (result.ok && result.value.tokens.some((t) => t.priors.length > 0)) probe("log.token.prior");
      this.k.procs.answer(to.proc, to.stepId, result);
    });
  }

  /** Token asks and grants: an ordered stream per link, or datagrams (maybe twice) under `tokenDisorder`. */
  private send(from: string, to: string, desc: string, deliver: () => void): void {
    const disorder = this.options.faults.tokenDisorder && !this.k.healed;
    this.k.message(from, to, desc, deliver, !disorder);
    if (disorder && buggify("sim.log.duplicateAsk")) this.k.message(from, to, `${desc} again`, deliver, false);
  }
}
