/**
 * A scenario's processes. Each incarnation owns one real WOR client core (its endpoint towards the
 * acceptors) and a task runner for log operation generators; a sequencer also runs a real
 * `SequencerCore`. Register steps of either are answered by the process's own client core. A crash
 * drops the incarnation; naming the process again starts a new one with a new proposer id.
 */
import { majority } from "../../paxos/quorum.ts";
import { CLIENT_DEFAULTS, WorClientCore } from "../../wor/core/client-core.ts";
import type { Capture, OpResult } from "../../wor/core/results.ts";
import { type Grant, type LogResult, type LogStep, type RegisterOpStep, type SequencerCore, type StepResult, TaskRunner } from "./adapter.ts";
import * as fmt from "./format.ts";

/** Client timing in the scenarios' virtual milliseconds. */
/** Commit notices go at once (no linger), as the traces show them. */
const SCENARIO_CLIENT = { roundTimeoutMs: 1_000, resendMs: 250, commitLingerMs: 0 } as const;

/** Who resumes when a step is answered: a log operation of the process, or its sequencer core. */
export type StepOwner = "task" | "sequencer";

/** What a finished client-core operation feeds: a step of a generator, or a command's own op. */
type Hook =
  | { readonly kind: "step"; readonly owner: StepOwner; readonly stepId: number; readonly step: RegisterOpStep }
  | { readonly kind: "top"; readonly top: Top; readonly step: RegisterOpStep; readonly done: (r: OpResult<unknown>) => string };

/** An operation a command started; `status` is undefined while it runs. */
export interface Top {
  readonly proc: Proc;
  readonly n: number;
  readonly what: string;
  status: string | undefined;
}

export class Proc {
  alive = true;
  readonly tasks = new TaskRunner<LogStep, StepResult>();
  readonly hooks = new Map<number, Hook>();
  /** Captures this process won (the latest last): `write` uses the latest covering its addresses. */
  readonly captures: Capture[] = [];
  readonly sleeps: { at: number; stepId: number; owner: StepOwner }[] = [];
  /** The sequencer this process asks for tokens (else the log's newest live one). */
  via: string | undefined;
  sequencer: SequencerCore | undefined;
  readonly grants: { id: number; result: LogResult<Grant> }[] = [];
  private tops = 0;
  readonly wor: WorClientCore;

  constructor(
    readonly name: string,
    readonly id: number,
    acceptors: number,
  ) {
    this.wor = new WorClientCore({ ...CLIENT_DEFAULTS, ...SCENARIO_CLIENT, acceptors, quorum: majority(acceptors), proposerId: id, segmentSize: 16 });
  }

  newTop(what: string): Top {
    return { proc: this, n: ++this.tops, what, status: undefined };
  }

  /** The steps waiting to be answered, with who asked. */
  takeSteps(): { id: number; step: LogStep; owner: StepOwner }[] {
    const out: { id: number; step: LogStep; owner: StepOwner }[] = this.tasks.takeSteps().map((s) => ({ ...s, owner: "task" }));
    if (this.sequencer) {
      const o = this.sequencer.takeOutputs();
      this.grants.push(...o.grants);
      out.push(...o.steps.map((s) => ({ ...s, owner: "sequencer" as const })));
    }
    return out;
  }

  answer(owner: StepOwner, stepId: number, result: StepResult): void {
    if (owner === "task") this.tasks.onResult(stepId, result);
    else this.sequencer?.onResult(stepId, result);
  }

  nextWakeup(): number | undefined {
    const at = [this.wor.nextWakeup(), this.sequencer?.nextWakeup(), ...this.sleeps.map((s) => s.at)].filter((t): t is number => t !== undefined);
    return at.length > 0 ? Math.min(...at) : undefined;
  }
}

/** A register step in the transcript's words. */
export function describeStep(s: RegisterOpStep): string {
  switch (s.kind) {
    case "capture":
      return `capture ${fmt.span(s.space, s.from, s.to)}`;
    case "write":
      return `write ${fmt.runs(s.capture.space, s.entries.map((e) => ({ index: e.index, text: fmt.value(e.value) })))} at ${fmt.ballot(s.capture.ballot)}`;
    case "read":
      return `read ${fmt.span(s.space, s.from, s.to)}${s.recover ? " recover" : ""}`;
    case "alloc":
      return `alloc ${s.space} segment ${s.segment} ${fmt.value(s.meta)}`;
    case "check":
      return `check ${s.space} segment ${s.segment}`;
    case "trim":
      return `trim ${s.space} below ${s.below}`;
  }
}

/** A register step's result in the transcript's words. */
export function stepResult(s: RegisterOpStep, r: OpResult<unknown>): string {
  switch (s.kind) {
    case "capture":
      return fmt.failed(r as OpResult<Parameters<typeof fmt.captureResult>[0]>, fmt.captureResult);
    case "write":
      return fmt.failed(r as OpResult<Parameters<typeof fmt.writeResults>[1]>, (m) => fmt.writeResults(s.capture.space, m));
    case "read":
      return fmt.failed(r as OpResult<Parameters<typeof fmt.readResults>[1]>, (m) => fmt.readResults(s.space, m));
    case "alloc":
      return fmt.failed(r as OpResult<Parameters<typeof fmt.allocResult>[0]>, (a) => fmt.allocResult(a, s.meta));
    case "check":
      return fmt.failed(r as OpResult<Parameters<typeof fmt.allocResult>[0]>, (a) => fmt.allocResult(a));
    case "trim":
      return fmt.failed(r as OpResult<number>, (mark) => `trimmed below ${mark}`);
  }
}
