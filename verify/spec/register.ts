/**
 * The sequential spec of one write-once register (docs/ARCHITECTURE.md §3.1), for history checking.
 * Values are strings (the simulator records bytes as hex).
 *
 * Trims: a trim that completed `ok` reached a quorum, so from its linearization point every
 * operation on the register answers `trimmed`, except answers that report the value chosen before
 * (immutable): a read served from a client's cache, a write refused as alreadyWritten. A trim with an unknown outcome may have reached only
 * some acceptors: from its point on, operations may answer `trimmed` or behave as before.
 */
import type { Spec } from "../history/linearizability.ts";

export type RegisterInput =
  | { readonly kind: "write"; readonly value: string }
  | { readonly kind: "read" }
  | { readonly kind: "capture" }
  /** The register was covered by a trim (`trim(space, below)` with index < below). */
  | { readonly kind: "trim" };

export type RegisterOutput =
  /** write: the value is chosen. trim: done. */
  | { readonly kind: "ok" }
  /** write: the register already held `value` (our own value: our write landed). */
  | { readonly kind: "alreadyWritten"; readonly value: string }
  /** read: the chosen value; capture: the capture found and finished `value`. */
  | { readonly kind: "written"; readonly value: string }
  /** read: nothing is written. */
  | { readonly kind: "unwritten" }
  /** read: a mixed picture; says nothing. */
  | { readonly kind: "pending" }
  /** capture: phase 1 done and nothing was accepted. */
  | { readonly kind: "captured" }
  /** capture: a higher ballot got in; says nothing. (A preempted write must be recorded unknown.) */
  | { readonly kind: "preempted" }
  | { readonly kind: "trimmed" };

/** How far a trim covers the register: not at all, perhaps (unknown outcome), certainly. */
export const Trim = { No: 0, Maybe: 1, Yes: 2 } as const;
export type Trim = (typeof Trim)[keyof typeof Trim];

export interface RegisterState {
  readonly value: string | undefined;
  readonly trim: Trim;
}

const INIT: RegisterState = Object.freeze({ value: undefined, trim: Trim.No });

function unknownStep(s: RegisterState, input: RegisterInput): RegisterState {
  if (input.kind === "trim") return s.trim === Trim.No ? { value: s.value, trim: Trim.Maybe } : s;
  if (input.kind === "write" && s.value === undefined && s.trim !== Trim.Yes) return { value: input.value, trim: s.trim };
  return s;
}

export function registerStep(s: RegisterState, input: RegisterInput, output: RegisterOutput | undefined): RegisterState | undefined {
  if (output === undefined || (output.kind === "preempted" && input.kind === "write")) return unknownStep(s, input);
  if (input.kind === "trim") return output.kind === "ok" ? { value: s.value, trim: Trim.Yes } : undefined;
  if (output.kind === "trimmed") return s.trim !== Trim.No ? s : undefined;
  // After a trim, an answer may still report the value that was chosen (immutable): a read from a
  // client's cache, or a write refused by an acceptor that knows the value was chosen.
  if (s.trim === Trim.Yes) {
    const reportsChosen = (output.kind === "written" && input.kind === "read") || (output.kind === "alreadyWritten" && input.kind === "write");
    return reportsChosen && s.value === output.value ? s : undefined;
  }
  switch (input.kind) {
    case "write":
      // alreadyWritten with our own bytes: our value is chosen (perhaps finished by another
      // proposer's capture), so the write itself took effect, like ok.
      if (output.kind === "ok" || (output.kind === "alreadyWritten" && output.value === input.value)) {
        if (s.value === undefined) return { value: input.value, trim: s.trim };
        return s.value === input.value ? s : undefined;
      }
      if (output.kind === "alreadyWritten") return s.value === output.value ? s : undefined;
      return undefined;
    case "read":
      if (output.kind === "written") return s.value === output.value ? s : undefined;
      if (output.kind === "unwritten") return s.value === undefined ? s : undefined;
      return output.kind === "pending" ? s : undefined;
    case "capture":
      if (output.kind === "captured") return s.value === undefined ? s : undefined;
      if (output.kind === "written") return s.value === output.value ? s : undefined;
      return output.kind === "preempted" ? s : undefined;
  }
}

export const registerSpec: Spec<RegisterState, RegisterInput, RegisterOutput> = {
  init: () => INIT,
  step: registerStep,
  key: (s) => (s.value === undefined ? `${s.trim}-` : `${s.trim}=${s.value}`),
};
