/**
 * One step id space over several step sources (docs/ARCHITECTURE.md §3.4): a replica runs its own
 * operations, its leader's and its embedded sequencer's, and its driver sees one stream of steps.
 * A source dropped (a leadership that ended) simply never hears of its steps again.
 */
import type { Step } from "../../../wor/core/steps.ts";
import type { Issued } from "../../../wor/core/tasks.ts";

export interface StepSource {
  takeSteps(): Issued<Step>[];
  onResult(id: number, result: unknown): void;
}

export class Router {
  private nextId = 1;
  private readonly routes = new Map<number, { readonly source: StepSource; readonly id: number }>();

  /** The steps `sources` yielded since the last call, under this router's ids. */
  take(sources: readonly StepSource[]): Issued<Step>[] {
    const out: Issued<Step>[] = [];
    for (const source of sources) {
      for (const s of source.takeSteps()) {
        const id = this.nextId++;
        this.routes.set(id, { source, id: s.id });
        out.push({ id, step: s.step });
      }
    }
    return out;
  }

  /** The result of step `id` goes to its source (once). */
  answer(id: number, result: unknown): void {
    const r = this.routes.get(id);
    if (!r) return;
    this.routes.delete(id);
    r.source.onResult(r.id, result);
  }

  /** Forget the steps of `source` still under way (their results are dropped). */
  drop(source: StepSource): void {
    for (const [id, r] of this.routes) if (r.source === source) this.routes.delete(id);
  }
}
