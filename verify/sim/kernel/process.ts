/**
 * A simulated process (docs/ARCHITECTURE.md §3.4): app generators plus a mailbox. It owns one real WOR client
 * core (its endpoint towards the acceptors; its proposer id is the endpoint, so a fresh incarnation
 * never reuses a ballot of an earlier one) and a `TaskRunner` for the app operations it runs. An app
 * with a sans-IO core of its own (the log's sequencer) plugs it in as a `StepSource`. Every step
 * either source yields leaves through `takeSteps()` under a process-wide id; the kernel answers it
 * (register steps through wor/core/step-ops.ts, sleeps on virtual time) or hands it to the world
 * (the app's own steps). A crash drops the whole object; a restart is a new one.
 */
import type { WorClientCore } from "../../../wor/core/client-core.ts";
import type { WatchLearner } from "../../../wor/core/quorum-learner.ts";
import type { Step, StepGen } from "../../../wor/core/steps.ts";
import { type Issued, TaskRunner } from "../../../wor/core/tasks.ts";

/** An app's own sans-IO core inside a process: yields steps, takes their results, keeps time. */
export interface StepSource {
  takeSteps(): Issued<Step>[];
  onResult(id: number, result: unknown): void;
  tick(now: number): void;
  nextWakeup(): number | undefined;
}

/** A watch the process holds: values pushed as acceptors learn they are chosen, or accept them. */
interface SimWatch {
  readonly space: string;
  readonly from: number;
  /** Its own writes are not pushed to it (wor/node/node-replies.ts). */
  readonly skipOwn: boolean;
  /** What the pushes deliver: each index once, learned or accepted by a quorum at one ballot. */
  readonly learner: WatchLearner;
}

export class SimProcess {
  alive = true;
  /** Crash right after the frames of the current step are sent (an app dying mid-write). */
  crashAfterSend = false;
  /** Called once when the process crashes. */
  onDeath: (() => void) | undefined;
  /** Client core op → the step it answers. */
  readonly ops = new Map<number, Issued<Step>>();
  /** Watch frame id → the watch. */
  readonly watches = new Map<number, SimWatch>();
  /** The configuration it runs under (docs/ARCHITECTURE.md §3.5): its epoch, and the acceptor in each
   *  of its client core's slots (none: slot i is acceptor i). */
  epoch = 0;
  slots: readonly number[] | undefined;
  /** Its sessions are a reconfiguration's installer's. */
  installer = false;
  private readonly runner = new TaskRunner<Step, unknown>();
  /** Process step id → the source's own id (`service` true for the StepSource's steps). */
  private readonly routes = new Map<number, { readonly service: boolean; readonly id: number }>();
  private nextStep = 1;

  constructor(
    readonly endpoint: number,
    /** Names the process for partitions and the event log ("c0", "ap1", "seq"); incarnations share it. */
    readonly name: string,
    readonly wor: WorClientCore,
    readonly service?: StepSource,
  ) {}

  /** The acceptor serving slot `slot` for this process. */
  acceptorOf(slot: number): number {
    return this.slots ? this.slots[slot]! : slot;
  }

  /** The slot acceptor `acceptor` serves for this process, if it serves one. */
  slotOf(acceptor: number): number | undefined {
    if (!this.slots) return acceptor < this.wor.config.acceptors ? acceptor : undefined;
    const slot = this.slots.indexOf(acceptor);
    return slot < 0 ? undefined : slot;
  }

  /** "c0@1": name and endpoint, for the event log. */
  get label(): string {
    return `${this.name}@${this.endpoint}`;
  }

  /** Run an app generator; `done` gets its return value. */
  start<T>(gen: StepGen<Step, T>, done: (value: T) => void): void {
    this.runner.start(gen, done);
  }

  /** The steps yielded since the last call, under process-wide ids. */
  takeSteps(): Issued<Step>[] {
    const out: Issued<Step>[] = [];
    if (this.service) this.route(true, this.service.takeSteps(), out);
    this.route(false, this.runner.takeSteps(), out);
    return out;
  }

  /** The result of step `id`; a second answer (a timeout racing the reply) is ignored. */
  answer(id: number, result: unknown): void {
    const r = this.routes.get(id);
    if (!r) return;
    this.routes.delete(id);
    if (r.service) this.service!.onResult(r.id, result);
    else this.runner.onResult(r.id, result);
  }

  private route(service: boolean, steps: readonly Issued<Step>[], out: Issued<Step>[]): void {
    for (const s of steps) {
      const id = this.nextStep++;
      this.routes.set(id, { service, id: s.id });
      out.push({ id, step: s.step });
    }
  }

  tick(now: number): void {
    this.wor.tick(now);
    this.service?.tick(now);
  }

  nextWakeup(): number | undefined {
    const a = this.wor.nextWakeup();
    const b = this.service?.nextWakeup();
    return a === undefined ? b : b === undefined ? a : Math.min(a, b);
  }
}
