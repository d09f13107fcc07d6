/**
 * The log's sequencer inside a simulated process (worlds/log.ts): the real `SequencerCore` plugged
 * into the process as its `StepSource`. Its register steps go out like any app generator's; the
 * grants it issues go to `grant` (the world sends them back to the asking processes).
 */
import { SEQUENCER_DEFAULTS, SequencerCore } from "../../../apps/log/core/sequencer.ts";
import type { LogResult } from "../../../apps/log/core/steps.ts";
import type { Grant } from "../../../apps/log/core/tokens.ts";
import type { Step } from "../../../wor/core/steps.ts";
import type { Issued } from "../../../wor/core/tasks.ts";
import type { StepSource } from "../kernel/process.ts";
import type { LogWorldOptions } from "./log-options.ts";

export const LOG_NAME = "log";

/** A sequencer's owner name: its incarnation (endpoint), newer ones numbered higher. */
export const sequencerOwner = (endpoint: number): string => `seq-${endpoint}`;
/** The rule of a sequencer that gives way to newer incarnations (`yieldToNewer`): the rival is
 *  one if its number is above ours. */
const newerThan =
  (endpoint: number) =>
  (owner: string): boolean =>
    Number(owner.slice("seq-".length)) > endpoint;

export class SequencerService implements StepSource {
  readonly core: SequencerCore;

  constructor(
    endpoint: number,
    o: Pick<LogWorldOptions, "yieldToNewer" | "aheadSegments" | "segmentSize">,
    /** A grant for ask `id`. */
    private readonly grant: (id: number, result: LogResult<Grant>) => void,
    /** Called each time the core ran (coverage probes look at its status). */
    private readonly ran: (core: SequencerCore) => void,
  ) {
    // Seals behind itself soon (slow appenders get fenced) and in chunks of two segments.
    this.core = new SequencerCore({
      ...SEQUENCER_DEFAULTS,
      log: LOG_NAME,
      owner: sequencerOwner(endpoint),
      // Give way to newer incarnations instead of recovering over them.
      ...(o.yieldToNewer ? { yieldsTo: newerThan(endpoint) } : {}),
      aheadSegments: o.aheadSegments,
      segmentSize: o.segmentSize,
      retryMs: 20,
      askTimeoutMs: 1_000,
      sealAfterMs: 150,
      sealChunkMax: 2 * o.segmentSize,
    });
  }

  takeSteps(): Issued<Step>[] {
    const out = this.core.takeOutputs();
    for (const g of out.grants) this.grant(g.id, g.result);
    this.ran(this.core);
    return [...out.steps];
  }
  onResult(id: number, result: unknown): void {
    this.core.onResult(id, result);
  }
  tick(now: number): void {
    this.core.tick(now);
  }
  nextWakeup(): number | undefined {
    return this.core.nextWakeup();
  }
}
