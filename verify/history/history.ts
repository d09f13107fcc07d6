/**
 * Operation histories (docs/ARCHITECTURE.md §5): each operation is invoked, then completes `ok` with an output,
 * `fail`s (it certainly had no effect: it is dropped from the history), or ends `unknown` (it may or
 * may not have taken effect, e.g. a timed-out or preempted write). An unknown operation keeps its call
 * time, has no output, and returns at +∞: it may linearize anywhere after its call, or never matter.
 */
import { assert } from "../runtime/assert.ts";

export interface Operation<I, O> {
  readonly id: number;
  readonly client: number;
  readonly input: I;
  /** Logical time of the invocation. */
  readonly call: number;
  /** Logical time of the response; `Infinity` for an unknown outcome. */
  readonly ret: number;
  /** The observed output; `undefined` for an unknown outcome. */
  readonly output: O | undefined;
}

export type HistoryEvent<I, O> =
  | { readonly kind: "invoke"; readonly id: number; readonly client: number; readonly input: I; readonly at: number }
  | { readonly kind: "ok"; readonly id: number; readonly output: O; readonly at: number }
  | { readonly kind: "fail"; readonly id: number; readonly at: number }
  | { readonly kind: "unknown"; readonly id: number; readonly at: number };

interface Open<I> {
  readonly client: number;
  readonly input: I;
  readonly call: number;
}

/** Records a history in real-time order. Times are a strictly increasing event counter. */
export class HistoryRecorder<I, O> {
  private clock = 0;
  private nextId = 1;
  private readonly open = new Map<number, Open<I>>();
  private readonly done: Operation<I, O>[] = [];
  private readonly log: HistoryEvent<I, O>[] = [];

  /** `keepEvents`: also keep the raw event log (memory grows with the history). */
  constructor(private readonly keepEvents = false) {}

  invoke(client: number, input: I): number {
    const id = this.nextId++;
    const at = ++this.clock;
    this.open.set(id, { client, input, call: at });
    if (this.keepEvents) this.log.push({ kind: "invoke", id, client, input, at });
    return id;
  }

  ok(id: number, output: O): void {
    const o = this.close(id);
    const at = ++this.clock;
    this.done.push({ id, client: o.client, input: o.input, call: o.call, ret: at, output });
    if (this.keepEvents) this.log.push({ kind: "ok", id, output, at });
  }

  fail(id: number): void {
    this.close(id);
    const at = ++this.clock;
    if (this.keepEvents) this.log.push({ kind: "fail", id, at });
  }

  unknown(id: number): void {
    const o = this.close(id);
    const at = ++this.clock;
    this.done.push({ id, client: o.client, input: o.input, call: o.call, ret: Number.POSITIVE_INFINITY, output: undefined });
    if (this.keepEvents) this.log.push({ kind: "unknown", id, at });
  }

  get pending(): number {
    return this.open.size;
  }

  /** The history so far; operations still open are reported as unknown. */
  operations(): Operation<I, O>[] {
    const out = [...this.done];
    for (const [id, o] of this.open) out.push({ id, client: o.client, input: o.input, call: o.call, ret: Number.POSITIVE_INFINITY, output: undefined });
    return out.sort((a, b) => a.call - b.call);
  }

  events(): readonly HistoryEvent<I, O>[] {
    return this.log;
  }

  private close(id: number): Open<I> {
    const o = this.open.get(id);
    assert(o, () => `operation ${id} is not open`);
    this.open.delete(id);
    return o;
  }
}
