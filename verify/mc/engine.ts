/**
 * An explicit-state model checker in the manner of TLC and stateright: breadth-first search over
 * the states of a `Model`, deduplicated by a 53-bit fingerprint of each state's canonical encoding,
 * with parent pointers to rebuild the shortest path to any state. Properties:
 *  - `always`: checked in every reachable state; a violation stops the search with a trace;
 *  - `sometimes`: non-vacuity — some reachable state satisfies it (an example path is kept). It is
 *    checked on every transition, even into a state already visited: a state may record what the
 *    transition into it did (an event), which the state's encoding leaves out;
 *  - `eventually` (bounded, on acyclic runs): every terminal state (one with no successors) was
 *    reached by a path on which the predicate held at some state. As in stateright, the per-path
 *    bits ride with the first path that reaches a state, so the check can miss violations but never
 *    reports a false one.
 * Pure: no clock, no I/O. The caller passes `now` for rates and receives progress through a callback.
 */
import { AssertionFailed } from "../runtime/assert.ts";

export interface Model<S, A> {
  init(): S[];
  /** Enabled actions in `state`, in a deterministic order. */
  actions(state: S): A[];
  /** The successor; `undefined` when the action turns out to change nothing. May throw AssertionFailed. */
  next(state: S, action: A): S | undefined;
  /** Canonical encoding: states that must be treated as equal (e.g. up to symmetry) encode equally. */
  encode(state: S): string;
  formatAction(action: A): string;
  formatState?(state: S): string;
  readonly always: readonly { readonly name: string; check(state: S): string | undefined }[];
  readonly sometimes: readonly { readonly name: string; check(state: S): boolean }[];
  readonly eventually: readonly { readonly name: string; check(state: S): boolean }[];
}

export interface TraceStep {
  /** The action that led here (`init` for the first step). */
  readonly action: string;
  readonly state: string;
}

export interface Violation {
  readonly property: string;
  readonly message: string;
  readonly trace: readonly TraceStep[];
}

export interface CheckSummary {
  readonly states: number;
  readonly transitions: number;
  readonly maxDepth: number;
  readonly ms: number;
  readonly statesPerSecond: number;
  /** True when the whole reachable space was explored (no violation, no limit hit). */
  readonly complete: boolean;
  readonly violation?: Violation;
  readonly sometimes: readonly { readonly name: string; readonly hit: boolean; readonly example?: readonly TraceStep[] }[];
  readonly terminalStates: number;
}

export interface Progress {
  readonly states: number;
  readonly frontier: number;
  readonly depth: number;
  readonly ms: number;
}

export interface EngineOptions {
  readonly statesMax?: number;
  /** Milliseconds since some origin; the engine only subtracts readings. */
  readonly now?: () => number;
  readonly progressEvery?: number;
  /** Stop at the first violation (default) or keep exploring past violating states. */
  readonly stopOnViolation?: boolean;
}

/** What a caller of a model's `run…Check` chooses about the search (each model fixes the rest). */
export type SearchOptions = Pick<EngineOptions, "statesMax" | "now" | "progressEvery">;

/** 53-bit fingerprint of a string: two independent 32-bit FNV-1a style hashes. */
export function fingerprint(s: string): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  return (h1 >>> 0) * 0x20_0000 + ((h2 >>> 0) & 0x1f_ffff);
}

export function check<S, A>(model: Model<S, A>, options: EngineOptions = {}, onProgress?: (p: Progress) => void): CheckSummary {
  const now = options.now ?? (() => 0);
  const t0 = now();
  const statesMax = options.statesMax ?? Number.POSITIVE_INFINITY;
  const progressEvery = options.progressEvery ?? 50_000;
  const visited = new Map<number, number>();
  // Per state id: parent id (or -1 - root index) and the index of the action taken from the parent.
  const parent: number[] = [];
  const via: number[] = [];
  const depthOf: number[] = [];
  /** Per sometimes-property: the state it was seen from, and the action taken there (if any). */
  const sometimesHit: ({ id: number; action?: number } | undefined)[] = model.sometimes.map(() => undefined);
  let sometimesLeft = model.sometimes.length;
  const evCount = model.eventually.length;
  const allEv = evCount === 0 ? 0 : (1 << evCount) - 1;
  let frontier: { id: number; state: S; ev: number; fp: number }[] = [];
  let transitions = 0;
  let maxDepth = 0;
  let terminalStates = 0;
  /** The state id the violation was found from, and the action taken from it (if any). */
  let violation: { id: number; property: string; message: string; action?: number } | undefined;

  const evBits = (s: S, inherited: number): number => {
    let bits = inherited;
    model.eventually.forEach((p, i) => {
      if ((bits & (1 << i)) === 0 && p.check(s)) bits |= 1 << i;
    });
    return bits;
  };
  /** `always` runs on every generated state, even one already visited: a transition into a known
   *  state may still carry a violation the model recorded on the way (e.g. a step invariant). */
  const violates = (s: S): { property: string; message: string } | undefined => {
    for (const p of model.always) {
      const m = p.check(s);
      if (m !== undefined) return { property: p.name, message: m };
    }
    return undefined;
  };
  const noteSometimes = (s: S, id: number, action?: number): void => {
    if (sometimesLeft === 0) return;
    model.sometimes.forEach((p, i) => {
      if (sometimesHit[i] === undefined && p.check(s)) {
        sometimesHit[i] = action === undefined ? { id } : { id, action };
        sometimesLeft--;
      }
    });
  };
  let lastFp = 0;
  const add = (s: S, par: number, act: number, depth: number): number | undefined => {
    const fp = fingerprint(model.encode(s));
    lastFp = fp;
    if (visited.has(fp)) return undefined;
    const id = parent.length;
    visited.set(fp, id);
    parent.push(par);
    via.push(act);
    depthOf.push(depth);
    return id;
  };

  model.init().forEach((s, i) => {
    const id = add(s, -1 - i, -1, 0);
    if (id === undefined || violation) return;
    const v = violates(s);
    if (v) violation = { id, ...v };
    noteSometimes(s, id);
    frontier.push({ id, state: s, ev: evBits(s, 0), fp: lastFp });
  });

  let depth = 0;
  let lastReport = 0;
  search: while (frontier.length > 0 && !violation) {
    const nextFrontier: typeof frontier = [];
    for (const { id, state, ev, fp } of frontier) {
      const actions = model.actions(state);
      let successors = 0;
      for (let ai = 0; ai < actions.length; ai++) {
        let s: S | undefined;
        try {
          s = model.next(state, actions[ai]!);
        } catch (e) {
          if (!(e instanceof AssertionFailed)) throw e;
          violation = { id, property: "assertion", message: e.message, action: ai };
          break search;
        }
        if (s === undefined) continue;
        transitions++;
        const v = violates(s);
        if (v) {
          violation = { id, ...v, action: ai };
          break search;
        }
        const sid = add(s, id, ai, depth + 1);
        if (lastFp !== fp) successors++; // a self-loop does not keep a run going
        noteSometimes(s, id, ai);
        if (sid === undefined) continue;
        nextFrontier.push({ id: sid, state: s, ev: evBits(s, ev), fp: lastFp });
        if (parent.length >= statesMax) break search;
      }
      if (successors === 0) {
        terminalStates++;
        if (ev !== allEv) {
          const missing = model.eventually.filter((_, i) => (ev & (1 << i)) === 0).map((p) => p.name);
          violation = { id, property: `eventually ${missing.join(", ")}`, message: "a run ended without it" };
          break search;
        }
      }
      if (onProgress && parent.length - lastReport >= progressEvery) {
        lastReport = parent.length;
        onProgress({ states: parent.length, frontier: nextFrontier.length, depth: depth + 1, ms: now() - t0 });
      }
    }
    frontier = nextFrontier;
    if (frontier.length > 0) depth++;
    maxDepth = depth;
  }

  const ms = now() - t0;
  const trace = (id: number, extra?: number): TraceStep[] => {
    const acts: number[] = [];
    let cur = id;
    while (parent[cur]! >= 0) {
      acts.push(via[cur]!);
      cur = parent[cur]!;
    }
    const root = -1 - parent[cur]!;
    acts.reverse();
    if (extra !== undefined) acts.push(extra);
    let s = model.init()[root]!;
    const fmt = (x: S) => (model.formatState ? model.formatState(x) : model.encode(x));
    const out: TraceStep[] = [{ action: "init", state: fmt(s) }];
    for (const ai of acts) {
      const a = model.actions(s)[ai]!;
      let n: S | undefined;
      try {
        n = model.next(s, a);
      } catch (e) {
        out.push({ action: model.formatAction(a), state: `assertion failed: ${(e as Error).message}` });
        break;
      }
      s = n!;
      out.push({ action: model.formatAction(a), state: fmt(s) });
    }
    return out;
  };

  const states = parent.length;
  return {
    states,
    transitions,
    maxDepth: Math.max(maxDepth, ...(violation ? [depthOf[violation.id] ?? 0] : [])),
    ms,
    statesPerSecond: ms > 0 ? Math.round((states * 1000) / ms) : states,
    complete: !violation && frontier.length === 0 && states < statesMax,
    ...(violation ? { violation: { property: violation.property, message: violation.message, trace: trace(violation.id, violation.action) } } : {}),
    sometimes: model.sometimes.map((p, i) => {
      const hit = sometimesHit[i];
      return hit === undefined ? { name: p.name, hit: false } : { name: p.name, hit: true, example: trace(hit.id, hit.action) };
    }),
    terminalStates,
  };
}

/** A counterexample trace as text, one numbered step per line pair. */
export function formatTrace(trace: readonly TraceStep[]): string {
  return trace.map((t, i) => `${String(i).padStart(3)}. ${t.action}\n     ${t.state.replaceAll("\n", "\n     ")}`).join("\n");
}
