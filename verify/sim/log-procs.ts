/**
 * The processes of the log simulation (verify/sim/log-world.ts): each incarnation owns one real WOR
 * client core (its endpoint towards the acceptors) and runs log steps: a `LogClient` (an appender or
 * a reader) runs log operation generators in a `TaskRunner`; a `SequencerProc` runs a real
 * `SequencerCore`. A crash drops the whole object; a restart is a new one with a new endpoint.
 */
import { CLIENT_DEFAULTS, WorClientCore } from "../../wor/core/client-core.ts";
import { majority } from "../../paxos/quorum.ts";
import { SEQUENCER_DEFAULTS, SequencerCore } from "../../apps/log/core/sequencer.ts";
import type { LogGen, LogResult, LogStep, StepResult } from "../../apps/log/core/steps.ts";
import { type Issued, TaskRunner } from "../../wor/core/tasks.ts";
import type { Grant } from "../../apps/log/core/tokens.ts";

export const LOG_NAME = "log";

export type Role = "appender" | "reader" | "sequencer";

export function worCore(acceptors: number, endpoint: number, segmentSize: number): WorClientCore {
  return new WorClientCore({
    ...CLIENT_DEFAULTS,
    acceptors,
    quorum: majority(acceptors),
    // A fresh incarnation never reuses a ballot of an earlier one.
    proposerId: endpoint,
    segmentSize,
    roundTimeoutMs: 400,
    resendMs: 60,
  });
}

export abstract class Proc {
  alive = true;
  /** WOR op → the log step it answers. */
  readonly ops = new Map<number, number>();
  /** Crash right after the frames of the current step are sent (an appender dying mid-write). */
  dieAfterSend = false;
  /** Called once when the process crashes. */
  onDeath: (() => void) | undefined;

  constructor(
    readonly endpoint: number,
    /** Names the process for partitions and the event log ("a0", "r1", "seq"). */
    readonly name: string,
    readonly role: Role,
    readonly wor: WorClientCore,
  ) {}

  abstract answer(stepId: number, result: StepResult): void;
  abstract takeSteps(): Issued<LogStep>[];
}

export class LogClient extends Proc {
  private readonly runner = new TaskRunner<LogStep, StepResult>();
  private running = 0;

  start<T>(gen: LogGen<T>, done: (value: T) => void): void {
    this.running++;
    this.runner.start(gen, (v) => {
      this.running--;
      done(v);
    });
  }
  answer(stepId: number, result: StepResult): void {
    this.runner.onResult(stepId, result);
  }
  takeSteps(): Issued<LogStep>[] {
    return this.runner.takeSteps();
  }
  get busy(): boolean {
    return this.running > 0;
  }
}

export class SequencerProc extends Proc {
  readonly core: SequencerCore;
  private grants: { id: number; result: LogResult<Grant> }[] = [];

  constructor(endpoint: number, wor: WorClientCore, segmentSize: number) {
    super(endpoint, "seq", "sequencer", wor);
    // Seals behind itself soon (slow appenders get fenced) and in chunks of two segments.
    this.core = new SequencerCore({
      ...SEQUENCER_DEFAULTS,
      log: LOG_NAME,
      owner: `seq-${endpoint}`,
      segmentSize,
      retryMs: 20,
      askTimeoutMs: 1_000,
      sealAfterMs: 150,
      sealChunkMax: 2 * segmentSize,
    });
  }
  answer(stepId: number, result: StepResult): void {
    this.core.onResult(stepId, result);
  }
  takeSteps(): Issued<LogStep>[] {
    const out = this.core.takeOutputs();
    this.grants.push(...out.grants);
    return [...out.steps];
  }
  takeGrants(): { id: number; result: LogResult<Grant> }[] {
    const g = this.grants;
    this.grants = [];
    return g;
  }
}
