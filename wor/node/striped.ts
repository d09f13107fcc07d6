/**
 * The operations of a space striped over acceptor groups (docs/ARCHITECTURE.md §3.6), over each
 * group's client: an address goes to its segment's group (stripes.ts); a read of a range asks every
 * group holding some of it and keeps from each what is its own; a capture across segments is one
 * capture per segment (its `parts`), and a write under it goes to each part's group; a trim goes to
 * every group (resolving with the lowest mark they hold); a watch merges every group's. So a log
 * striped over n groups spreads its segments, and their load, over n groups of acceptors. The API
 * calls and an app's steps go through the one splitter (`answer`).
 */
import { allocSpaceOf } from "../../paxos/limits.ts";
import { maxBallot } from "../../paxos/ballot.ts";
import type { Entry, SpaceName } from "../../paxos/messages.ts";
import type { AllocResult, Capture, CaptureResult, CheckResult, OpResult, ReadResult, WriteResult } from "../core/results.ts";
import type { RegisterOpStep } from "../core/step-ops.ts";
import type { RegisterResults } from "../core/steps.ts";
import type { GroupClient } from "./group-client.ts";
import { type Stripe, groupAt, segmentRuns, spansOf } from "./stripes.ts";
import { WatchFeed } from "./watch-feed.ts";
import { WorError } from "./wor-error.ts";

export class Striped {
  constructor(
    readonly stripe: Stripe,
    private readonly clients: ReadonlyMap<string, GroupClient>,
  ) {}

  /** The client of the group address `index` of `space` lives on. */
  at(space: SpaceName, index: number): GroupClient {
    return this.clients.get(groupAt(this.stripe, space, index))!;
  }

  captureRange(space: SpaceName, from: number, to: number): Promise<CaptureResult> {
    return this.run({ kind: "capture", space, from, to });
  }
  writeMany(held: Capture, entries: readonly Entry[]): Promise<Map<number, WriteResult>> {
    return this.run({ kind: "write", capture: held, entries });
  }
  readRange(space: SpaceName, from: number, to: number, opts: { recover?: boolean }): Promise<Map<number, ReadResult>> {
    return this.run({ kind: "read", space, from, to, recover: opts.recover ?? false });
  }
  trim(space: SpaceName, below: number): Promise<number> {
    return this.run({ kind: "trim", space, below });
  }
  alloc(space: SpaceName, segment: number, meta: Uint8Array): Promise<AllocResult> {
    return this.run({ kind: "alloc", space, segment, meta });
  }
  check(space: SpaceName, segment: number): Promise<CheckResult> {
    return this.run({ kind: "check", space, segment });
  }

  /** A step's result, its failure thrown as the API throws it (a `WorError`). */
  private async run<S extends RegisterOpStep>(step: S): Promise<Extract<RegisterResults[S["kind"]], { ok: true }>["value"]> {
    const r = (await this.answer(step)) as OpResult<Extract<RegisterResults[S["kind"]], { ok: true }>["value"]>;
    if (!r.ok) throw new WorError(r.failure);
    return r.value;
  }

  /** An app's register step, its failures as values (wor/core/steps.ts). */
  step<S extends RegisterOpStep>(step: S): Promise<RegisterResults[S["kind"]]> {
    return this.answer(step) as Promise<RegisterResults[S["kind"]]>;
  }

  private async answer(step: RegisterOpStep): Promise<unknown> {
    switch (step.kind) {
      case "capture": {
        const parts = await Promise.all(segmentRuns(this.stripe, step.space, step.from, step.to).map((r) => this.at(step.space, r.from).step({ ...step, ...r })));
        const failed = parts.find((p) => !p.ok);
        return failed ?? { ok: true, value: joinCaptures(step.space, step.from, step.to, parts.map((p) => (p as Extract<OpResult<CaptureResult>, { ok: true }>).value)) };
      }
      case "write": {
        const held = step.capture;
        if (!held.parts) return this.at(held.space, held.from).step(step);
        const parts = await Promise.all(partsOf(held, step.entries).map(([part, entries]) => this.at(part.space, part.from).step({ ...step, capture: part, entries })));
        const failed = parts.find((p) => !p.ok);
        return failed ?? { ok: true, value: new Map(parts.flatMap((p) => [...(p as Extract<OpResult<Map<number, WriteResult>>, { ok: true }>).value])) };
      }
      case "alloc":
      case "check":
        return this.at(allocSpaceOf(step.space), step.segment).step(step);
      case "read": {
        const parts = await Promise.all([...spansOf(this.stripe, step.space, step.from, step.to)].map(async ([group, r]) => [group, await this.clients.get(group)!.step({ ...step, ...r })] as const));
        const failed = parts.find(([, p]) => !p.ok);
        if (failed) return failed[1];
        return { ok: true, value: merged(this, step.space, parts.map(([group, p]) => [group, (p as Extract<OpResult<Map<number, ReadResult>>, { ok: true }>).value] as const)) };
      }
      case "trim": {
        const parts = await Promise.all(this.stripe.groups.map((g) => this.clients.get(g)!.step(step)));
        const failed = parts.find((p) => !p.ok);
        return failed ?? { ok: true, value: Math.min(...parts.map((p) => (p as Extract<OpResult<number>, { ok: true }>).value)) };
      }
    }
  }

  /** One feed of every group's values: each address is on one group, so each comes once. */
  watch(space: SpaceName, from: number, options: { readonly skipOwn?: boolean }, bufferMax: number): WatchFeed {
    const inner = this.stripe.groups.map((g) => this.clients.get(g)!.watch(space, from, options));
    const feed = new WatchFeed(from, bufferMax, () => {
      for (const f of inner) void f.return();
    });
    for (const f of inner) {
      void (async () => {
        try {
          for await (const w of f) feed.relay(w.index, w.value);
        } catch (e) {
          feed.fail(e as Error);
        }
      })();
    }
    return feed;
  }
}

/**
 * One capture of [from, to) from its segments' captures: captured if every part is (its ballot the
 * highest of theirs, each part kept for the writes), else trimmed or preempted as the first part
 * that was not.
 */
function joinCaptures(space: SpaceName, from: number, to: number, parts: readonly CaptureResult[]): CaptureResult {
  const other = parts.find((p) => p._tag !== "Captured");
  if (other) return other;
  const captured = parts as readonly Extract<CaptureResult, { _tag: "Captured" }>[];
  if (captured.length === 1) return captured[0]!;
  const ballot = captured.map((p) => p.capture.ballot).reduce(maxBallot);
  const written = new Map(captured.flatMap((p) => [...p.written]));
  return { _tag: "Captured", capture: { space, from, to, ballot, parts: captured.map((p) => p.capture) }, written };
}

/** `entries` split by the part of `held` each falls in. */
function partsOf(held: Capture, entries: readonly Entry[]): [Capture, Entry[]][] {
  const out = new Map<Capture, Entry[]>();
  for (const e of entries) {
    const part = held.parts!.find((p) => p.from <= e.index && e.index < p.to);
    if (!part) throw new WorError({ code: "invalid", message: `index ${e.index} is outside the capture [${held.from}, ${held.to})` });
    out.set(part, [...(out.get(part) ?? []), e]);
  }
  return [...out];
}

/** The results of one range read per group, each keeping what its group holds. */
function merged(s: Striped, space: SpaceName, parts: readonly (readonly [string, ReadonlyMap<number, ReadResult>])[]): Map<number, ReadResult> {
  const out = new Map<number, ReadResult>();
  for (const [group, results] of parts) for (const [index, r] of results) if (groupAt(s.stripe, space, index) === group) out.set(index, r);
  return new Map([...out].sort(([a], [b]) => a - b));
}
