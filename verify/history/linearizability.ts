/**
 * Linearizability checking in the manner of Porcupine: Wing & Gong's search over a history's
 * call/return entries (Lowe's linked-list form), with memoisation of (set of linearized operations,
 * spec state). A history that partitions (P-compositionality, e.g. per register address) is checked
 * one partition at a time, which keeps large histories cheap.
 */
import { Prng } from "../runtime/prng.ts";
import type { Operation } from "./history.ts";

/** A sequential specification. `output` is `undefined` for an operation whose outcome is unknown. */
export interface Spec<S, I, O> {
  init(): S;
  /** The state after `input` answered `output`, or `undefined` if that answer is impossible in `state`. */
  step(state: S, input: I, output: O | undefined): S | undefined;
  /** A canonical string for `state` (equal states, equal keys). */
  key(state: S): string;
}

export interface CheckOptions {
  /** Give up (verdict "unknown") after this many search steps per partition. */
  readonly stepsMax?: number;
}

export type PartitionVerdict =
  | { readonly ok: true; readonly steps: number }
  | { readonly ok: false; readonly steps: number; readonly timedOut: true }
  | {
      readonly ok: false;
      readonly steps: number;
      readonly timedOut: false;
      /** The longest sequence of operations (ids) the search managed to linearize. */
      readonly longestPrefix: readonly number[];
      /** Operations left over after that prefix. */
      readonly stuck: readonly number[];
    };

interface Node {
  readonly op: number;
  readonly call: boolean;
  match: Node | null;
  prev: Node | null;
  next: Node | null;
}

/** Random 64-bit (two 32-bit halves) tags per operation: the linearized set's hash is their xor. */
function zobristTable(n: number): { a: Uint32Array; b: Uint32Array } {
  const p = new Prng(0x5eed);
  const a = new Uint32Array(n);
  const b = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = p.nextU32();
    b[i] = p.nextU32();
  }
  return { a, b };
}

function sameBits(x: Uint32Array, y: Uint32Array): boolean {
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Check one (partition of a) history against `spec`. */
export function checkOperations<S, I, O>(spec: Spec<S, I, O>, ops: readonly Operation<I, O>[], options: CheckOptions = {}): PartitionVerdict {
  const n = ops.length;
  const stepsMax = options.stepsMax ?? Number.POSITIVE_INFINITY;
  const entries: { node: Node; time: number }[] = [];
  for (let i = 0; i < n; i++) {
    const o = ops[i]!;
    const call: Node = { op: i, call: true, match: null, prev: null, next: null };
    const ret: Node = { op: i, call: false, match: call, prev: null, next: null };
    call.match = ret;
    entries.push({ node: call, time: o.call }, { node: ret, time: o.ret });
  }
  // By time; at equal times calls first, so operations touching one instant count as concurrent.
  entries.sort((x, y) => x.time - y.time || (x.node.call === y.node.call ? 0 : x.node.call ? -1 : 1));
  const head: Node = { op: -1, call: false, match: null, prev: null, next: null };
  let last = head;
  for (const { node } of entries) {
    node.prev = last;
    last.next = node;
    last = node;
  }

  const z = zobristTable(n);
  const bits = new Uint32Array((n + 31) >>> 5);
  let h1 = 0;
  let h2 = 0;
  const flip = (i: number) => {
    bits[i >>> 5]! ^= 1 << (i & 31);
    h1 ^= z.a[i]!;
    h2 ^= z.b[i]!;
  };
  const cache = new Map<string, Uint32Array[]>();
  const stack: { node: Node; state: S }[] = [];
  let best: number[] = [];
  let state = spec.init();
  let entry = head.next;
  let steps = 0;

  const lift = (c: Node) => {
    c.prev!.next = c.next;
    c.next!.prev = c.prev;
    const r = c.match!;
    r.prev!.next = r.next;
    if (r.next) r.next.prev = r.prev;
  };
  const unlift = (c: Node) => {
    const r = c.match!;
    r.prev!.next = r;
    if (r.next) r.next.prev = r;
    c.prev!.next = c;
    c.next!.prev = c;
  };

  while (head.next !== null) {
    if (++steps > stepsMax) return { ok: false, steps, timedOut: true };
    const e = entry!;
    if (e.call) {
      const op = ops[e.op]!;
      const next = spec.step(state, op.input, op.output);
      if (next !== undefined) {
        flip(e.op);
        const key = `${h1}:${h2}:${spec.key(next)}`;
        const bucket = cache.get(key);
        if (!bucket?.some((b) => sameBits(b, bits))) {
          if (bucket) bucket.push(bits.slice());
          else cache.set(key, [bits.slice()]);
          stack.push({ node: e, state });
          if (stack.length > best.length) best = stack.map((s) => s.node.op);
          state = next;
          lift(e);
          entry = head.next;
          continue;
        }
        flip(e.op);
      }
      entry = e.next;
    } else {
      // A return whose call could not be linearized before it: backtrack.
      const top = stack.pop();
      if (!top) {
        const done = new Set(best);
        return {
          ok: false,
          steps,
          timedOut: false,
          longestPrefix: best.map((i) => ops[i]!.id),
          stuck: ops.filter((_, i) => !done.has(i)).map((o) => o.id),
        };
      }
      state = top.state;
      flip(top.node.op);
      unlift(top.node);
      entry = top.node.next;
    }
  }
  return { ok: true, steps };
}

export interface Partition<I, O> {
  readonly key: string;
  readonly ops: readonly Operation<I, O>[];
}

export type Verdict =
  | { readonly ok: true; readonly partitions: number; readonly operations: number; readonly steps: number }
  | {
      readonly ok: false;
      readonly partitions: number;
      readonly operations: number;
      readonly steps: number;
      /** The first partition that failed (or timed out) and why. */
      readonly partition: string;
      readonly verdict: Exclude<PartitionVerdict, { ok: true }>;
    };

/** Check each partition independently (sound for P-compositional specs such as independent registers). */
export function checkPartitions<S, I, O>(spec: Spec<S, I, O>, partitions: readonly Partition<I, O>[], options: CheckOptions = {}): Verdict {
  let steps = 0;
  let operations = 0;
  for (const p of partitions) {
    const v = checkOperations(spec, p.ops, options);
    steps += v.steps;
    operations += p.ops.length;
    if (!v.ok) return { ok: false, partitions: partitions.length, operations, steps, partition: p.key, verdict: v };
  }
  return { ok: true, partitions: partitions.length, operations, steps };
}
