/**
 * Runs step generators (wor/core/steps.ts) for a sans-IO core that has many operations under way at
 * once (the log's sequencer: recovery, claims, seals): each yielded step leaves through
 * `takeSteps()` with an id, and the generator resumes when the driver answers that id with
 * `onResult`. Pure and synchronous.
 */
export interface Issued<S> {
  readonly id: number;
  readonly step: S;
}

interface Waiting<S, R> {
  readonly gen: Generator<S, unknown, R>;
  readonly done: (value: unknown) => void;
}

export class TaskRunner<S, R> {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting<S, R>>();
  private out: Issued<S>[] = [];

  /** Start a generator; `done` gets its return value. */
  start<T>(gen: Generator<S, T, R>, done: (value: T) => void): void {
    this.advance({ gen, done: done as (value: unknown) => void }, undefined);
  }

  /** The answer to step `id`; unknown ids (answered twice, or dropped) are ignored. */
  onResult(id: number, result: R): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    this.advance(w, result);
  }

  takeSteps(): Issued<S>[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  private advance(w: Waiting<S, R>, input: R | undefined): void {
    const r = w.gen.next(input as R);
    if (r.done) {
      w.done(r.value);
      return;
    }
    const id = this.nextId++;
    this.waiting.set(id, w);
    this.out.push({ id, step: r.value });
  }
}
