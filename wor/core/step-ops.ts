/**
 * The one map from a register step (wor/core/steps.ts) to a client core operation. The node's
 * `WorClient.step` and the simulator both answer register steps through it, so every driver runs a
 * step the same way. Sleeps are the driver's (a timer, or virtual time).
 */
import type { Op, WorClientCore } from "./client-core.ts";
import type { RegisterStep } from "./steps.ts";

/** A register step that is a client operation (every one but a sleep). */
export type RegisterOpStep = Exclude<RegisterStep, { kind: "sleep" }>;

/** Start the client core operation that answers `step`; its completion (an `OpResult`) is the
 *  step's result, `RegisterResults[step.kind]`. */
export function startRegisterOp(core: WorClientCore, step: RegisterOpStep, now: number): Op<unknown> {
  switch (step.kind) {
    case "capture":
      return core.capture(step.space, step.from, step.to, now);
    case "write":
      return core.write(step.capture, step.entries, now);
    case "read":
      return core.read(step.space, step.from, step.to, step.recover, now);
    case "alloc":
      return core.alloc(step.space, step.segment, step.meta, now);
    case "check":
      return core.check(step.space, step.segment, now, step.final ?? true);
    case "trim":
      return core.trim(step.space, step.below, now);
  }
}
