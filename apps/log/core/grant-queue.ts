/**
 * The requests a sequencer (./sequencer.ts) holds until it can answer them, in arrival order: token
 * asks, granted first come first served, and tail queries (no asks), answered once a tail check
 * covers them. Every operation a grant or a tick makes is O(1) or O(what it removes): a sequencer
 * answers thousands of requests a second and must not rescan its queue for each (the soonest
 * deadline is the oldest request's, since deadlines are taken from a clock that never goes back).
 */
import { assert } from "../../../verify/runtime/assert.ts";
import { Fifo } from "../../../wor/core/fifo.ts";
import type { GrantRequest } from "./steps.ts";

export interface Queued {
  readonly id: number;
  readonly req: GrantRequest;
  readonly deadline: number;
  /** A tail query waits for a tail check numbered above this. */
  readonly ticket: number;
}

interface Held extends Queued {
  /** Arrival order across both kinds. */
  readonly seq: number;
}

/** A tail query: a request for no tokens (the tail, and the stream tails it names). */
export const isQuery = (q: Queued): boolean => q.req.asks.length === 0;

export class GrantQueue {
  /** Token asks, oldest first. */
  private readonly asks = new Fifo<Held>();
  private queries: Held[] = [];
  private seq = 0;
  private lastDeadline = Number.NEGATIVE_INFINITY;

  get size(): number {
    return this.asks.length + this.queries.length;
  }

  get hasQueries(): boolean {
    return this.queries.length > 0;
  }

  push(q: Queued): void {
    assert(q.deadline >= this.lastDeadline, "queued deadlines never go back");
    this.lastDeadline = q.deadline;
    const held = { ...q, seq: this.seq++ };
    if (isQuery(q)) this.queries.push(held);
    else this.asks.push(held);
  }

  /** The oldest token ask. */
  firstAsk(): Queued | undefined {
    return this.asks.peek();
  }

  shiftAsk(): void {
    this.asks.shift();
  }

  /** Remove and return the tail queries `covered` says may be answered, in arrival order. */
  takeQueries(covered: (q: Queued) => boolean): Queued[] {
    if (this.queries.length === 0) return [];
    const taken: Queued[] = [];
    const kept: Held[] = [];
    for (const q of this.queries) (covered(q) ? taken : kept).push(q);
    this.queries = kept;
    return taken;
  }

  /** The soonest deadline of anything queued. */
  nextDeadline(): number | undefined {
    const a = this.asks.peek()?.deadline;
    const q = this.queries[0]?.deadline;
    if (a === undefined) return q;
    return q === undefined ? a : Math.min(a, q);
  }

  /** Remove and return, in arrival order, the requests `which` picks (all by default). */
  take(which: (q: Queued) => boolean = () => true): Queued[] {
    const asks = this.asks.toArray();
    const taken = [...asks.filter(which), ...this.queries.filter(which)].sort((a, b) => a.seq - b.seq);
    if (taken.length === 0) return taken;
    this.asks.clear();
    for (const q of asks) if (!which(q)) this.asks.push(q);
    this.queries = this.queries.filter((q) => !which(q));
    return taken;
  }

  /** Remove and return, in arrival order, what is due by `now`. */
  expire(now: number): Queued[] {
    const due = this.nextDeadline();
    return due !== undefined && due <= now ? this.take((q) => q.deadline <= now) : [];
  }

  some(pred: (q: Queued) => boolean): boolean {
    return this.asks.toArray().some(pred) || this.queries.some(pred);
  }
}
