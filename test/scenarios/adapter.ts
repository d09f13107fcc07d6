/**
 * The one place the scenario interpreter imports the register-step vocabulary (wor/core/steps.ts,
 * the TaskRunner, the one map from a register step to a WorClientCore operation), segment ownership
 * (wor/core/segments.ts) and the log's cores from.
 */
export type { LogGen, LogResult, LogStep, StepResult } from "../../apps/log/core/steps.ts";
export { type Issued, TaskRunner } from "../../wor/core/tasks.ts";
export { type RegisterOpStep, startRegisterOp } from "../../wor/core/step-ops.ts";
export { seal } from "../../wor/core/segments.ts";
export { APPEND_DEFAULTS, append } from "../../apps/log/core/append.ts";
export { READ_DEFAULTS, type SettledRead, type SlotRead, fill, readSettled, readSlots } from "../../apps/log/core/read.ts";
export { SEQUENCER_DEFAULTS, SequencerCore } from "../../apps/log/core/sequencer.ts";
export { FILL_BYTES, type LogEntry, decodeSlot, isFill } from "../../apps/log/core/entry.ts";
export type { Grant } from "../../apps/log/core/tokens.ts";
