/**
 * The one place the scenario interpreter imports the register-step vocabulary and the log's cores
 * from. Issue 10 moves the steps an app yields to wor/core/steps.ts (with the TaskRunner and the
 * function that answers a register step with a WorClientCore operation) and segment ownership to
 * wor/core/segments.ts: when they move, only these lines change.
 */
export type { LogGen, LogResult, LogStep, StepResult } from "../../apps/log/core/steps.ts";
export { type Issued, TaskRunner } from "../../apps/log/core/tasks.ts";
export { type RegisterOpStep, startRegisterOp } from "../../verify/sim/log-procs.ts";
export { seal } from "../../apps/log/core/segments.ts";
export { APPEND_DEFAULTS, append } from "../../apps/log/core/append.ts";
export { READ_DEFAULTS, type SettledRead, type SlotRead, fill, readSettled, readSlots } from "../../apps/log/core/read.ts";
export { SEQUENCER_DEFAULTS, SequencerCore } from "../../apps/log/core/sequencer.ts";
export { FILL_BYTES, type LogEntry, decodeSlot, isFill } from "../../apps/log/core/entry.ts";
export type { Grant } from "../../apps/log/core/tokens.ts";
