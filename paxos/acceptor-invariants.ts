/**
 * Acceptor invariants (docs/ARCHITECTURE.md §3.2), exported so unit tests, the simulator and the model checker
 * call the same functions. Each returns a list of violations (empty when the invariant holds).
 */
import { type Ballot, ballotEq, ballotLt, formatBallot, isOwnerBallot } from "./ballot.ts";
import { type AcceptorState, type SpaceState, effectivePromise } from "./acceptor.ts";
import { bytesEqual } from "../verify/runtime/bytes.ts";
import type { AddressState, Request } from "./messages.ts";

/** A deep copy of the parts the transition invariants compare. */
export function snapshotAcceptor(state: AcceptorState): AcceptorState {
  const spaces = new Map<string, SpaceState>();
  for (const [name, s] of state.spaces) {
    spaces.set(name, { trimMark: s.trimMark, ranges: [...s.ranges], addresses: new Map(s.addresses) });
  }
  return { spaces, resident: state.resident };
}

/** Invariants of a single state: accepted.ballot ≤ promised; nothing kept below the trim mark. */
export function checkAcceptorState(state: AcceptorState): string[] {
  const out: string[] = [];
  for (const [name, space] of state.spaces) {
    for (const [i, s] of space.addresses) {
      if (i < space.trimMark) out.push(`${name}[${i}] kept below trim mark ${space.trimMark}`);
      if (s.accepted && ballotLt(effectivePromise(space, i), s.accepted.ballot)) {
        out.push(`${name}[${i}] accepted ${formatBallot(s.accepted.ballot)} above its promise`);
      }
      if (s.committed && !s.accepted) out.push(`${name}[${i}] committed without a value`);
    }
  }
  return out;
}

/** Invariants of one transition `before → after` caused by `request`. */
export function checkAcceptorStep(before: AcceptorState, after: AcceptorState, request: Request): string[] {
  const out = checkAcceptorState(after);
  for (const [name, b] of before.spaces) {
    const a = after.spaces.get(name);
    if (!a) {
      out.push(`space ${name} disappeared`);
      continue;
    }
    if (a.trimMark < b.trimMark) out.push(`${name}: trim mark went back ${b.trimMark} → ${a.trimMark}`);
    for (const [i, sb] of b.addresses) {
      if (i < a.trimMark) continue;
      const sa: AddressState | undefined = a.addresses.get(i);
      const pb = effectivePromise(b, i);
      const pa = effectivePromise(a, i);
      if (ballotLt(pa, pb)) out.push(`${name}[${i}]: promise went back ${formatBallot(pb)} → ${formatBallot(pa)}`);
      if (sb.committed && sb.accepted && !(sa?.accepted && bytesEqual(sa.accepted.value, sb.accepted.value))) {
        out.push(`${name}[${i}]: a committed value changed`);
      }
    }
    for (const [i, sa] of a.addresses) {
      const sb = b.addresses.get(i);
      if (!sa.accepted || (sb?.accepted && ballotEq(sb.accepted.ballot, sa.accepted.ballot))) continue;
      // A new acceptance happened at i in this step.
      const pb: Ballot = effectivePromise(b, i);
      if (ballotLt(sa.accepted.ballot, pb)) out.push(`${name}[${i}]: accepted ${formatBallot(sa.accepted.ballot)} below promise ${formatBallot(pb)}`);
      if (isOwnerBallot(sa.accepted.ballot) && (!isOwnerBallot(pb) || sb?.accepted)) {
        out.push(`${name}[${i}]: owner-ballot accept where something was promised or accepted`);
      }
      if (i < b.trimMark) out.push(`${name}[${i}]: accepted below trim mark ${b.trimMark}`);
    }
  }
  if (request.kind === "trim") {
    const a = after.spaces.get(request.space);
    if (a && before.spaces.has(request.space) && a.trimMark < request.below) out.push(`${request.space}: trim to ${request.below} not applied`);
  }
  return out;
}
