/**
 * The acceptor core: `step(state, request) → { state, persist, replies }` (docs/ARCHITECTURE.md §3.2, §7.1).
 * Pure and synchronous. Guard → assert → mutate, then the caller checks the invariants
 * (paxos/acceptor-invariants.ts). Replies come back `Held`: the node releases them only after
 * `persist` is durable.
 */
import { assert } from "../verify/runtime/assert.ts";
import { planted } from "../verify/runtime/planted.ts";
import { type Ballot, OWNER_BALLOT, ballotEq, ballotGe, ballotLt, isOwnerBallot, isValidBallot, maxBallot } from "./ballot.ts";
import { type Held, hold } from "./held.ts";
import { LIMITS, isIndex, isSpaceName, isUserSpaceName, spacesOf } from "./limits.ts";
import type { AcceptedNotice, AddressState, Entry, Learned, Mutation, RangePromise, Refusal, Reply, ReportedAddress, Request, SpaceName } from "./messages.ts";
import { bytesEqual } from "../verify/runtime/bytes.ts";

export interface SpaceState {
  trimMark: number;
  ranges: RangePromise[];
  addresses: Map<number, AddressState>;
}

/**
 * Which addresses a state holds. A node keeps only some in memory (its cache) and loads what a
 * request touches before `step` runs; `step` asserts that what it touches is resident.
 */
export interface Residency {
  /** Whether every address of `space` in [from, to) that has state of its own is in the space's `addresses`. */
  covers(space: SpaceName, from: number, to: number): boolean;
}

/** Everything is in memory (the model checker, scenario tests, a state rebuilt from mutations). */
export const ALL_RESIDENT: Residency = Object.freeze({ covers: () => true });

export interface AcceptorState {
  readonly spaces: Map<SpaceName, SpaceState>;
  /** What the spaces' address maps hold. */
  readonly resident: Residency;
}

export interface StepResult {
  readonly state: AcceptorState;
  readonly persist: readonly Mutation[];
  readonly replies: Held<readonly Reply[]>;
  /** Values this step learned were chosen; published to watchers once `persist` is durable. */
  readonly learned: readonly Learned[];
  /** Values this step accepted; published to watchers once `persist` is durable. */
  readonly accepted: readonly AcceptedNotice[];
}

const EMPTY: AddressState = Object.freeze({ promised: OWNER_BALLOT, committed: false });

export function emptyAcceptor(): AcceptorState {
  return { spaces: new Map(), resident: ALL_RESIDENT };
}

function emptySpace(): SpaceState {
  return { trimMark: 0, ranges: [], addresses: new Map() };
}

/**
 * Per array of range promises (sorted by `from`), the highest `to` of each row and the rows before
 * it. A space holds one row per range captured and not yet trimmed (a log: one per segment), and
 * every accept looks up the rows over its addresses: with this, a lookup is a binary search plus
 * the rows that reach back over it, not a pass over every row. Kept per array: a space's rows are
 * replaced by a new array, never changed in place.
 */
const reaches = new WeakMap<readonly RangePromise[], readonly number[]>();

function reachOf(ranges: readonly RangePromise[]): readonly number[] {
  let reach = reaches.get(ranges);
  if (!reach) {
    const out: number[] = [];
    let far = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < ranges.length; k++) {
      assert(k === 0 || ranges[k - 1]!.from <= ranges[k]!.from, "range promises are sorted by their start");
      far = Math.max(far, ranges[k]!.to);
      out.push(far);
    }
    reaches.set(ranges, (reach = out));
  }
  return reach;
}

/** The highest ballot of the range promises overlapping [from, to) (the owner ballot if none). */
export function rangePromiseOver(ranges: readonly RangePromise[], from: number, to: number): Ballot {
  // Rows from `lo` on start at or after `to`; of those before, a row overlaps iff it ends after `from`.
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ranges[mid]!.from < to) lo = mid + 1;
    else hi = mid;
  }
  const reach = reachOf(ranges);
  let promised = OWNER_BALLOT;
  for (let k = lo - 1; k >= 0 && reach[k]! > from; k--) {
    const r = ranges[k]!;
    if (from < r.to) promised = maxBallot(promised, r.ballot);
  }
  return promised;
}

/** The promise in force at `index`: the max of the address's own and every range covering it. */
export function effectivePromise(space: SpaceState, index: number): Ballot {
  return maxBallot(space.addresses.get(index)?.promised ?? OWNER_BALLOT, rangePromiseOver(space.ranges, index, index + 1));
}

/** The highest effective promise over [from, to). */
export function maxPromiseIn(space: SpaceState, from: number, to: number): Ballot {
  let promised = rangePromiseOver(space.ranges, from, to);
  forEachOwn(space, from, to, (_, s) => {
    promised = maxBallot(promised, s.promised);
  });
  return promised;
}

/** Visit the addresses with their own state in [from, to), in index order. */
export function forEachOwn(space: SpaceState, from: number, to: number, visit: (index: number, s: AddressState) => void): void {
  if (to - from <= space.addresses.size) {
    for (let i = from; i < to; i++) {
      const s = space.addresses.get(i);
      if (s) visit(i, s);
    }
    return;
  }
  const hits = [...space.addresses.keys()].filter((i) => i >= from && i < to).sort((a, b) => a - b);
  for (const i of hits) visit(i, space.addresses.get(i)!);
}

function report(space: SpaceState, index: number, s: AddressState): ReportedAddress {
  const promised = effectivePromise(space, index);
  return s.accepted
    ? { index, promised, accepted: s.accepted, committed: s.committed }
    : { index, promised, committed: s.committed };
}

/** `step` touches only resident addresses: the node loads a request's footprint first (wor/node/footprint.ts). */
function assertResident(state: AcceptorState, name: SpaceName, from: number, to: number): void {
  assert(state.resident.covers(name, from, to), () => `${name}[${from}, ${to}) is touched but not loaded`);
}

function err(code: "unknownSpace" | "invalid" | "tooLarge", message: string): Reply {
  return { kind: "error", code, message };
}

class Step {
  readonly persist: Mutation[] = [];
  readonly replies: Reply[] = [];
  readonly learned: Learned[] = [];
  readonly accepted: AcceptedNotice[] = [];
  constructor(readonly state: AcceptorState) {}

  done(): StepResult {
    return { state: this.state, persist: this.persist, replies: hold(this.replies), learned: this.learned, accepted: this.accepted };
  }
  reply(r: Reply): StepResult {
    this.replies.push(r);
    return this.done();
  }
  setAddress(name: SpaceName, space: SpaceState, index: number, s: AddressState): void {
    space.addresses.set(index, s);
    this.persist.push({ kind: "address", space: name, index, state: s });
  }
}

export function step(state: AcceptorState, request: Request): StepResult {
  const st = new Step(state);
  if (request.kind === "createSpace") return createSpace(st, request.space);
  if (!isSpaceName(request.space)) return st.reply(err("invalid", `invalid space name ${JSON.stringify(request.space)}`));
  const space = state.spaces.get(request.space);
  if (!space) return st.reply(err("unknownSpace", `unknown space ${JSON.stringify(request.space)}`));
  switch (request.kind) {
    case "prepare":
      return prepare(st, request.space, space, request.from, request.to, request.ballot);
    case "accept":
      return accept(st, request.space, space, request.ballot, request.entries);
    case "commit":
      return commit(st, request.space, space, request.ballot, request.indexes);
    case "read":
      return read(st, request.space, space, request.from, request.to);
    case "trim":
      return trim(st, request.space, space, request.below);
    case "install":
      return install(st, request.space, space, request.addresses, request.ranges);
  }
}

function createSpace(st: Step, name: SpaceName): StepResult {
  if (!isUserSpaceName(name)) return st.reply(err("invalid", `invalid space name ${JSON.stringify(name)}`));
  for (const n of spacesOf(name)) {
    if (st.state.spaces.has(n)) continue;
    st.state.spaces.set(n, emptySpace());
    st.persist.push({ kind: "space", space: n });
  }
  return st.reply({ kind: "spaceCreated" });
}

function checkRange(from: number, to: number): Reply | undefined {
  if (!isIndex(from) || !isIndex(to) || from >= to) return err("invalid", `invalid range [${from}, ${to})`);
  if (to - from > LIMITS.rangeMax) return err("tooLarge", `range of ${to - from} addresses exceeds ${LIMITS.rangeMax}`);
  return undefined;
}

function prepare(st: Step, name: SpaceName, space: SpaceState, from: number, to: number, ballot: Ballot): StepResult {
  const bad = checkRange(from, to);
  if (bad) return st.reply(bad);
  if (!isValidBallot(ballot) || isOwnerBallot(ballot)) return st.reply(err("invalid", "prepare needs a proposer ballot"));
  if (from < space.trimMark) return st.reply({ kind: "trimmed", mark: space.trimMark });
  assertResident(st.state, name, from, to);
  const promised = maxPromiseIn(space, from, to);
  if (ballotLt(ballot, promised)) return st.reply({ kind: "prepareRejected", promised });
  // A repeated prepare (a resend, a duplicate), or one of part of a range promised at this ballot
  // (a client asking again in halves for replies that fit an envelope), changes nothing and costs
  // no fsync.
  if (space.ranges.some((r) => r.from <= from && to <= r.to && ballotEq(r.ballot, ballot))) {
    // held already
  } else if (to - from === 1) {
    const s = space.addresses.get(from) ?? EMPTY;
    if (!ballotEq(s.promised, ballot)) st.setAddress(name, space, from, { ...s, promised: ballot });
  } else {
    const kept = space.ranges.filter((r) => !(from <= r.from && r.to <= to && ballotLt(r.ballot, ballot)));
    if (kept.length >= LIMITS.rangeRowsMax) return st.reply(err("tooLarge", `space holds ${kept.length} range promises; trim it`));
    space.ranges = [...kept, { from, to, ballot }].sort((a, b) => a.from - b.from);
    if (!planted("forgetRangePromises")) st.persist.push({ kind: "ranges", space: name, ranges: space.ranges });
  }
  const accepted: ReportedAddress[] = [];
  forEachOwn(space, from, to, (i, s) => {
    if (s.accepted) accepted.push(report(space, i, s));
  });
  return st.reply({ kind: "promise", ballot, accepted });
}

function accept(st: Step, name: SpaceName, space: SpaceState, ballot: Ballot, entries: readonly Entry[]): StepResult {
  if (!isValidBallot(ballot)) return st.reply(err("invalid", "invalid ballot"));
  if (entries.length === 0 || entries.length > LIMITS.entriesMax) return st.reply(err("invalid", `accept needs 1..${LIMITS.entriesMax} entries`));
  const seen = new Set<number>();
  for (const e of entries) {
    if (!isIndex(e.index) || seen.has(e.index)) return st.reply(err("invalid", `invalid or repeated index ${e.index}`));
    if (e.value.byteLength > LIMITS.valueBytesMax) return st.reply(err("tooLarge", `value of ${e.value.byteLength} bytes`));
    seen.add(e.index);
  }
  const refused: Refusal[] = [];
  for (const e of entries) {
    const refusal = acceptOne(st, name, space, ballot, e);
    if (refusal) refused.push(refusal);
    else st.accepted.push({ space: name, index: e.index, ballot, value: e.value });
  }
  return st.reply({ kind: "voted", ballot, refused });
}

function acceptOne(st: Step, name: SpaceName, space: SpaceState, ballot: Ballot, e: Entry): Refusal | undefined {
  if (e.index < space.trimMark) return { index: e.index, promised: OWNER_BALLOT, trimmed: true };
  assertResident(st.state, name, e.index, e.index + 1);
  const s = space.addresses.get(e.index) ?? EMPTY;
  const promised = planted("ignoreRangePromises") ? s.promised : effectivePromise(space, e.index);
  const chosen = s.committed && s.accepted ? { chosen: s.accepted.value } : {};
  const refuse = (): Refusal => ({ index: e.index, promised, trimmed: false, ...chosen });
  if (isOwnerBallot(ballot)) {
    // The owner ballot skips phase 1: only where nobody promised or accepted anything, or as an
    // idempotent repeat of the very same owner write.
    if (!isOwnerBallot(promised)) return refuse();
    if (s.accepted) return bytesEqual(s.accepted.value, e.value) ? undefined : refuse();
  } else if (ballotLt(ballot, promised) && !planted("acceptBelowPromise")) {
    return refuse();
  }
  if (s.accepted && ballotEq(s.accepted.ballot, ballot)) {
    // One ballot proposes one value per address: a different value here is a faulty proposer.
    return bytesEqual(s.accepted.value, e.value) ? undefined : refuse();
  }
  if (s.committed && s.accepted && !bytesEqual(s.accepted.value, e.value)) return refuse();
  assert(planted("acceptBelowPromise") || ballotGe(ballot, s.promised), "accept below the address's own promise");
  st.setAddress(name, space, e.index, { promised: ballot, accepted: { ballot, value: e.value }, committed: s.committed });
  return undefined;
}

function commit(st: Step, name: SpaceName, space: SpaceState, ballot: Ballot, indexes: readonly number[]): StepResult {
  if (!isValidBallot(ballot)) return st.reply(err("invalid", "invalid ballot"));
  if (indexes.length > LIMITS.entriesMax) return st.reply(err("tooLarge", "too many indexes"));
  for (const index of indexes) {
    if (!isIndex(index)) return st.reply(err("invalid", `invalid index ${index}`));
    if (index < space.trimMark) continue;
    assertResident(st.state, name, index, index + 1);
    const s = space.addresses.get(index);
    if (!s?.accepted || s.committed || !ballotEq(s.accepted.ballot, ballot)) continue;
    // The committed flag is a hint that is true forever once set (the value is chosen), so it is
    // kept in memory only: losing it in a crash is safe, and persisting it would cost every write a
    // second fsync. It reaches the disk whenever the address is persisted again.
    space.addresses.set(index, { ...s, committed: true });
    st.learned.push({ space: name, index, ballot, value: s.accepted.value });
  }
  return st.reply({ kind: "committed" });
}

function read(st: Step, name: SpaceName, space: SpaceState, from: number, to: number): StepResult {
  const bad = checkRange(from, to);
  if (bad) return st.reply(bad);
  const addresses: ReportedAddress[] = [];
  const lo = Math.max(from, space.trimMark);
  if (lo < to) assertResident(st.state, name, lo, to);
  forEachOwn(space, lo, to, (i, s) => {
    addresses.push(report(space, i, s));
  });
  const ranges = space.ranges.filter((r) => r.from < to && from < r.to);
  return st.reply({ kind: "states", trimMark: space.trimMark, addresses, ranges });
}

function trim(st: Step, name: SpaceName, space: SpaceState, below: number): StepResult {
  if (!isIndex(below)) return st.reply(err("invalid", `invalid trim mark ${below}`));
  if (below > space.trimMark || (planted("trimBackwards") && below !== space.trimMark)) {
    space.trimMark = below;
    for (const i of [...space.addresses.keys()]) if (i < below) space.addresses.delete(i);
    const ranges = space.ranges.filter((r) => r.to > below);
    if (ranges.length !== space.ranges.length) {
      space.ranges = ranges;
      st.persist.push({ kind: "ranges", space: name, ranges });
    }
    st.persist.push({ kind: "trim", space: name, mark: below });
  }
  return st.reply({ kind: "trimmed", mark: space.trimMark });
}

/**
 * Merge a replacement's copied state in (docs/ARCHITECTURE.md §3.5; the node serves it to a joining
 * replacement's installer only): per address the higher promise, the value of the higher ballot (a ballot carries
 * one value), a commit if either saw one; range promises added (rows another one covers at a higher
 * or equal ballot dropped). Input that no acceptor could hold is refused whole.
 */
function install(st: Step, name: SpaceName, space: SpaceState, addresses: readonly ReportedAddress[], ranges: readonly RangePromise[]): StepResult {
  for (const a of addresses) {
    const bad = !isIndex(a.index) || !isValidBallot(a.promised) || (a.accepted && (!isValidBallot(a.accepted.ballot) || ballotLt(a.promised, a.accepted.ballot))) || (a.committed && !a.accepted);
    if (bad) return st.reply(err("invalid", `install: address ${a.index} holds no acceptor's state`));
  }
  for (const r of ranges) if (checkRange(r.from, r.to) || !isValidBallot(r.ballot) || isOwnerBallot(r.ballot)) return st.reply(err("invalid", `install: range [${r.from}, ${r.to}) holds no acceptor's promise`));
  for (const a of addresses) {
    if (a.index < space.trimMark) continue;
    assertResident(st.state, name, a.index, a.index + 1);
    const s = space.addresses.get(a.index) ?? EMPTY;
    const sameBallot = s.accepted && a.accepted && ballotEq(s.accepted.ballot, a.accepted.ballot);
    if (sameBallot && !bytesEqual(s.accepted!.value, a.accepted!.value)) return st.reply(err("invalid", `install: two values at one ballot at ${a.index}`));
    const accepted = !s.accepted || (a.accepted && ballotLt(s.accepted.ballot, a.accepted.ballot)) ? (a.accepted ?? s.accepted) : s.accepted;
    const chosen = (s.committed && s.accepted) || (a.committed && a.accepted);
    if (chosen && !bytesEqual(chosen.value, accepted!.value)) return st.reply(err("invalid", `install: a value other than the chosen one at ${a.index}`));
    const next: AddressState = { promised: maxBallot(s.promised, a.promised), ...(accepted ? { accepted } : {}), committed: s.committed || a.committed };
    const same = ballotEq(next.promised, s.promised) && next.accepted === s.accepted && next.committed === s.committed;
    if (!same) st.setAddress(name, space, a.index, next);
  }
  const all = [...space.ranges, ...ranges.filter((r) => r.to > space.trimMark)];
  const rows = all.filter((r, k) => all.findIndex((o) => o.from === r.from && o.to === r.to && ballotEq(o.ballot, r.ballot)) === k);
  const kept = rows.filter((r) => !rows.some((o) => o !== r && o.from <= r.from && r.to <= o.to && ballotGe(o.ballot, r.ballot)));
  if (kept.length > LIMITS.rangeRowsMax) return st.reply(err("tooLarge", `space holds ${kept.length} range promises; trim it`));
  if (kept.length !== space.ranges.length || kept.some((r, k) => r !== space.ranges[k])) {
    space.ranges = kept.sort((a, b) => a.from - b.from);
    st.persist.push({ kind: "ranges", space: name, ranges: space.ranges });
  }
  return st.reply({ kind: "installed" });
}

/** Apply durable mutations to a state: how a node rebuilds its core state from storage. */
export function applyMutation(state: AcceptorState, m: Mutation): void {
  if (m.kind === "space") {
    if (!state.spaces.has(m.space)) state.spaces.set(m.space, emptySpace());
    return;
  }
  const space = state.spaces.get(m.space);
  assert(space, () => `mutation for unknown space ${m.space}`);
  if (m.kind === "address") space.addresses.set(m.index, m.state);
  else if (m.kind === "ranges") space.ranges = [...m.ranges];
  else {
    space.trimMark = Math.max(space.trimMark, m.mark);
    for (const i of [...space.addresses.keys()]) if (i < m.mark) space.addresses.delete(i);
  }
}
