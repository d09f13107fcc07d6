/**
 * Where an acceptor node's replies and pushes go (docs/ARCHITECTURE.md §3.3): what each frame
 * contributes once its receipt comes (`Release`, in frame order), the watches of every session,
 * and one outbox per session, flushed in one send per batch.
 *
 * A watch hears each value this node accepts (`accepted`) and each commit it sees (`learned`).
 * A commit of a value the watch was already told this node accepted at that ballot is pushed
 * without the value: the watcher takes it from that earlier push (wor/core/quorum-learner.ts). So
 * each value crosses to each watch once per acceptor, not twice, and one acceptor's commit notice
 * still delivers a value to a watch that hears fewer than a quorum of acceptors.
 *
 * A watch asked with `skipOwn` is not pushed what its own session writes, neither the accept nor
 * its commit (the writer learns its values from its writes' results; the SMR leader watches only
 * for slots it did not write). Where two values were accepted at one ballot, or another session's
 * accept of the address came between, the commit carries the value.
 */
import { forEachOwn } from "../../paxos/acceptor.ts";
import type { SpaceState } from "../../paxos/acceptor.ts";
import { type Ballot, ballotEq } from "../../paxos/ballot.ts";
import { type Held, type Receipt, release } from "../../paxos/held.ts";
import { LIMITS, isIndex, isSpaceName } from "../../paxos/limits.ts";
import type { AcceptedNotice, ErrorCode, Learned, Reply, SpaceName } from "../../paxos/messages.ts";
import type { ServerFrame } from "../core/frames.ts";

const WATCH_LIMITS = Object.freeze({
  /** Committed values one watch may ask to catch up on; beyond it the client reads instead. */
  watchCatchUpMax: 16_384,
  /** Watches one session may hold. */
  watchesPerSessionMax: 1_024,
  /** Accepted values one watch remembers being told of until their commit; past it the oldest are
   *  forgotten (their commits are then pushed with the value). */
  toldMax: 4_096,
});

/** Where a session's server frames go (a stream writer in production, an array in tests). */
export interface FrameSink {
  send(frames: ServerFrame[]): void;
  readonly closed: boolean;
  /** The epoch the session's client runs under (docs/ARCHITECTURE.md §3.5; none: 0), and whether it is a replacement's installer. */
  readonly epoch?: number;
  readonly installer?: boolean;
}

interface Watcher {
  readonly sink: FrameSink;
  readonly id: number;
  readonly space: SpaceName;
  readonly from: number;
  /** Values of this session's own accepts are not pushed to it. */
  readonly skipOwn: boolean;
  /** What this watch heard of accepts not yet seen committed, by index, oldest first. */
  readonly told: Map<number, Told>;
}

/** The accepts of one address at the last ballot seen: how many were pushed to a watch, and how
 *  many were its own session's and skipped. */
interface Told {
  readonly ballot: Ballot;
  readonly pushed: number;
  readonly own: number;
}

/** What one frame contributes when its receipt comes, in frame order. */
export type Release =
  | {
      readonly kind: "held";
      readonly id: number;
      readonly replies: Held<readonly Reply[]>;
      readonly learned: readonly Learned[];
      readonly accepted: readonly AcceptedNotice[];
    }
  | { readonly kind: "reply"; readonly id: number; readonly reply: Reply }
  | { readonly kind: "watch"; readonly watcher: Watcher; readonly catchUp: readonly ServerFrame[] }
  | { readonly kind: "unwatch"; readonly watchId: number };

export const errorReply = (code: ErrorCode, message: string): Reply => ({ kind: "error", code, message });

export class NodeReplies {
  private readonly watchers = new Map<SpaceName, Set<Watcher>>();
  private readonly outbox = new Map<FrameSink, ServerFrame[]>();

  /**
   * A watch frame: its catch-up is the committed values the node holds in memory at or after
   * `from` as of this frame (a later frame's commit is pushed live). Values it does not hold (not
   * cached, or their commit hint was lost to a crash or an eviction) are found by reads.
   */
  watch(space: SpaceState | undefined, sink: FrameSink, id: number, name: SpaceName, from: number, skipOwn = false): Release {
    const refuse = (code: ErrorCode, message: string): Release => ({ kind: "reply", id, reply: errorReply(code, message) });
    if (!isSpaceName(name)) return refuse("invalid", `invalid space name ${JSON.stringify(name)}`);
    if (!isIndex(from)) return refuse("invalid", `invalid watch start ${from}`);
    if (!space) return refuse("unknownSpace", `unknown space ${JSON.stringify(name)}`);
    if (from < space.trimMark) return { kind: "reply", id, reply: { kind: "trimmed", mark: space.trimMark } };
    let held = 0;
    for (const set of this.watchers.values()) for (const w of set) if (w.sink === sink) held++;
    if (held >= WATCH_LIMITS.watchesPerSessionMax) return refuse("tooLarge", `a session may hold ${WATCH_LIMITS.watchesPerSessionMax} watches`);
    const catchUp: ServerFrame[] = [];
    forEachOwn(space, from, LIMITS.indexMax, (index, s) => {
      if (s.committed && s.accepted) catchUp.push({ id, kind: "learned", space: name, index, ballot: s.accepted.ballot, value: s.accepted.value });
    });
    if (catchUp.length > WATCH_LIMITS.watchCatchUpMax) {
      return refuse("tooLarge", `${catchUp.length} values are chosen at or after ${from} (limit ${WATCH_LIMITS.watchCatchUpMax}); read them, then watch from a later index`);
    }
    return { kind: "watch", watcher: { sink, id, space: name, from, skipOwn, told: new Map() }, catchUp };
  }

  /** Open a frame group's releases with their receipt, into the outboxes (sent at the next `flush`). */
  release(sink: FrameSink, releases: readonly Release[], receipt: Receipt): void {
    const out = this.outboxOf(sink);
    for (const r of releases) {
      switch (r.kind) {
        case "held":
          for (const reply of release(r.replies, receipt)) out.push({ id: r.id, kind: "reply", reply });
          // Published in frame order, so a watch registered by a later frame never sees it twice.
          for (const l of r.learned) this.publish(l);
          for (const a of r.accepted) this.publishAccepted(a, sink);
          break;
        case "reply":
          out.push({ id: r.id, kind: "reply", reply: r.reply });
          break;
        case "watch": {
          for (const f of r.catchUp) out.push(f);
          let set = this.watchers.get(r.watcher.space);
          if (!set) this.watchers.set(r.watcher.space, (set = new Set()));
          set.add(r.watcher);
          break;
        }
        case "unwatch":
          for (const set of this.watchers.values()) for (const w of set) if (w.sink === sink && w.id === r.watchId) set.delete(w);
          break;
      }
    }
  }

  /** Forget a session's watches and unsent frames (its stream ended). */
  detach(sink: FrameSink): void {
    for (const set of this.watchers.values()) for (const w of set) if (w.sink === sink) set.delete(w);
    this.outbox.delete(sink);
  }

  clearWatches(): void {
    this.watchers.clear();
  }

  flush(): void {
    for (const [sink, frames] of this.outbox) if (frames.length > 0 && !sink.closed) sink.send(frames);
    this.outbox.clear();
  }

  private publish(l: Learned): void {
    const set = this.watchers.get(l.space);
    if (!set) return;
    for (const w of set) {
      if (w.sink.closed) set.delete(w);
      else if (l.index >= w.from) {
        const t = w.told.get(l.index);
        w.told.delete(l.index);
        const at = t !== undefined && ballotEq(t.ballot, l.ballot);
        // Its own write, alone at that ballot: the writer knows the value.
        if (at && t.own === 1 && t.pushed === 0) continue;
        // One value pushed at that ballot: the commit names it.
        const value = at && t.pushed === 1 && t.own === 0 ? undefined : l.value;
        this.outboxOf(w.sink).push({ id: w.id, kind: "learned", space: l.space, index: l.index, ballot: l.ballot, value });
      }
    }
  }

  /** An accept from session `from` became durable. */
  private publishAccepted(a: AcceptedNotice, from: FrameSink): void {
    const set = this.watchers.get(a.space);
    if (!set) return;
    for (const w of set) {
      if (w.sink.closed) set.delete(w);
      else if (a.index >= w.from) {
        const own = w.skipOwn && w.sink === from;
        if (!own) this.outboxOf(w.sink).push({ id: w.id, kind: "accepted", space: a.space, index: a.index, ballot: a.ballot, value: a.value });
        // Counted per ballot: a second value at one (a misused owner write, or the same one
        // again) leaves its commit's meaning uncertain, so the commit carries its value.
        const before = w.told.get(a.index);
        const same = before !== undefined && ballotEq(before.ballot, a.ballot);
        w.told.delete(a.index);
        w.told.set(a.index, { ballot: a.ballot, pushed: (same ? before.pushed : 0) + (own ? 0 : 1), own: (same ? before.own : 0) + (own ? 1 : 0) });
        if (w.told.size > WATCH_LIMITS.toldMax) w.told.delete(w.told.keys().next().value as number);
      }
    }
  }

  private outboxOf(sink: FrameSink): ServerFrame[] {
    let out = this.outbox.get(sink);
    if (!out) this.outbox.set(sink, (out = []));
    return out;
  }
}

