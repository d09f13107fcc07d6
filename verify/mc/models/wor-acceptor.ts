/**
 * The register model's acceptors: the real `step` (paxos/acceptor.ts) over one space, with a
 * durable and a volatile state, syncs and crashes (options `persist`, `crashes`; see wor.ts).
 *  - "sync": a step's mutations are made durable before its replies are released (a receipt is
 *    minted once the real `applyMutation` has rebuilt the durable state from them). A crash hits
 *    between a step and its sync: the step's mutations are lost with its replies; the acceptor
 *    restarts from its durable state (volatile commit hints are lost too).
 *  - "async": the node's group commit: steps change the volatile state and their replies are held;
 *    a `sync` action makes everything durable and releases the held replies; a crash drops both.
 * Either way the durable state rebuilt from the persisted mutations must equal the volatile state
 * (commit hints aside): a step that forgot to persist something is caught (`rebuildCheck`).
 */
import { ALL_RESIDENT, type AcceptorState, type SpaceState, applyMutation, emptyAcceptor, step } from "../../../paxos/acceptor.ts";
import { checkAcceptorState, checkAcceptorStep } from "../../../paxos/acceptor-invariants.ts";
import { type Held, mintReceipt, release } from "../../../paxos/held.ts";
import type { Mutation, Reply } from "../../../paxos/messages.ts";
import { planted } from "../../runtime/planted.ts";
import { EMPTY_VOTES, recordVotes } from "../../spec/register-invariants.ts";
import { type Acc, EMPTY_MEMO, EV, type ReqMsg, SPACE, type Transition, type WorModelOptions, encDurablePart, encMsg, encSpace } from "./wor-state.ts";

export const wrap = (sp: SpaceState): AcceptorState => ({ spaces: new Map([[SPACE, sp]]), resident: ALL_RESIDENT });
const cloneSpace = (sp: SpaceState): SpaceState => ({ trimMark: sp.trimMark, ranges: [...sp.ranges], addresses: new Map(sp.addresses) });

/** Rebuild a durable state from persisted mutations, as a restarting node does. */
const rebuild = (durable: SpaceState, mutations: readonly Mutation[]): SpaceState => {
  const st = wrap(cloneSpace(durable));
  for (const m of mutations) applyMutation(st, m);
  return st.spaces.get(SPACE)!;
};

/** Where released replies go: to proposer `to`'s round `tag`, from acceptor `from`. */
type ReleaseReplies = (c: Transition, from: number, to: number, tag: number, replies: readonly Reply[]) => void;

/** The real step, its invariant checks and (sync mode) the rebuild from its mutations. */
interface Stepped {
  /** The new state; undefined when the step changed nothing. */
  readonly after: SpaceState | undefined;
  readonly persist: readonly Mutation[];
  readonly replies: Held<readonly Reply[]>;
  readonly bad: readonly string[];
  readonly durable?: SpaceState;
}

export function acceptors(o: WorModelOptions, identity: readonly number[], releaseTo: ReleaseReplies) {
  let batch = 0;
  const notRebuilt = "persisted mutations do not rebuild the state";
  const stepCache = new Map<string, Stepped>();
  /** A step is a function of the state it meets and the request: memoised. */
  const cachedStep = (a: Acc, m: ReqMsg): Stepped => {
    const before = a.volatile;
    const key = `${encSpace(before)}|${o.persist === "sync" ? encSpace(a.durable) : ""}|${m.code}`;
    let hit = stepCache.get(key);
    if (hit) return hit;
    const r = step(wrap(cloneSpace(before)), m.req);
    const stepped = r.state.spaces.get(SPACE)!;
    const bad = [...checkAcceptorStep(wrap(before), wrap(stepped), m.req), ...checkAcceptorState(wrap(stepped))];
    // An unchanged state keeps its identity (see `deliver`), so comparisons are by reference.
    // (A repeated prepare at the promised ballot re-persists an identical state: still unchanged.)
    const unchanged = encSpace(stepped) === encSpace(before);
    const after = unchanged ? undefined : stepped;
    let durable: SpaceState | undefined;
    if (o.persist === "sync") {
      if (r.persist.length > 0) durable = rebuild(a.durable, r.persist);
      // A step that changed the state must have persisted the change, whether or not it persisted anything.
      const rebuilt = encDurablePart(durable ?? a.durable);
      if (o.rebuildCheck && (r.persist.length > 0 || !unchanged) && rebuilt !== encDurablePart(stepped)) bad.push(notRebuilt);
    }
    hit = { after, persist: r.persist, replies: r.replies, bad, ...(durable ? { durable } : {}) };
    stepCache.set(key, hit);
    return hit;
  };

  const setAcc = (acc: Acc[], i: number, a: Acc, next: Acc, key: string, crash: boolean, c: Transition): void => {
    const same =
      next.volatile === a.volatile &&
      next.durable === a.durable &&
      next.votes === a.votes &&
      next.volVotes === a.volVotes &&
      next.pending.length === a.pending.length &&
      next.held.length === a.held.length;
    if (!same) {
      c.changed = true;
      acc[i] = { ...next, memo: crash || c.loseReplies ? EMPTY_MEMO : new Set([key]) };
    } else if (!crash && !c.loseReplies && !a.memo.has(key)) acc[i] = { ...next, memo: new Set([...a.memo, key]) };
  };

  return {
    init(): Acc[] {
      const created = step(emptyAcceptor(), { kind: "createSpace", space: SPACE }).state.spaces.get(SPACE)!;
      const seeded = (a: number): SpaceState => {
        let sp = created;
        for (const req of o.seed[a] ?? []) sp = step(wrap(cloneSpace(sp)), req).state.spaces.get(SPACE)!;
        return sp;
      };
      return identity.map((a) => {
        const sp = seeded(a);
        const votes = recordVotes(EMPTY_VOTES, wrap(sp));
        return { durable: sp, volatile: sp, pending: [], held: [], votes, volVotes: votes, memo: EMPTY_MEMO };
      });
    },

    /** Acceptor `m.to` receives `m`; `crash`: and crashes before the step is durable (sync mode). */
    deliver(acc: Acc[], m: ReqMsg, c: Transition, crash = false): void {
      const a = acc[m.to]!;
      const before = a.volatile;
      const r = cachedStep(a, m);
      const after = r.after ?? before;
      for (const v of r.bad) c.bad.push(`acceptor ${m.to}: ${v}`);
      const volVotes = recordVotes(a.volVotes, wrap(after));
      const key = encMsg(m, identity);
      const set = (next: Acc) => setAcc(acc, m.to, a, next, key, crash, c);
      if (crash) {
        // The node crashed after the step, before its sync: the step is lost, and so are the volatile
        // commit hints. (The planted bug has already let the replies out.)
        if (planted("replyBeforePersist")) releaseTo(c, m.to, m.from, m.tag, release(r.replies, mintReceipt(batch)));
        c.events |= EV.crashLostState;
        set({ ...a, volatile: a.durable, volVotes: a.votes });
        return;
      }
      if (o.persist === "sync") {
        // Persisted within the step: the receipt is minted once the mutations are applied.
        const durable = r.durable ?? a.durable;
        releaseTo(c, m.to, m.from, m.tag, release(r.replies, mintReceipt(++batch)));
        set({ ...a, durable, volatile: after, votes: volVotes, volVotes });
        return;
      }
      const pending = r.persist.length > 0 ? [...a.pending, ...r.persist] : a.pending;
      if (pending.length === 0) {
        // Nothing unsynced: what the step saw is durable, so its replies may go now.
        if (o.rebuildCheck && encDurablePart(after) !== encDurablePart(a.durable)) c.bad.push(`acceptor ${m.to}: ${notRebuilt}`);
        releaseTo(c, m.to, m.from, m.tag, release(r.replies, mintReceipt(batch)));
        set({ ...a, volatile: after, volVotes });
      } else if (planted("replyBeforePersist")) {
        // PLANTED BUG: the replies leave before the step's mutations are durable.
        releaseTo(c, m.to, m.from, m.tag, release(r.replies, mintReceipt(batch)));
        set({ ...a, volatile: after, pending, volVotes });
      } else {
        const code = `${m.code}@${encSpace(before)}`;
        set({ ...a, volatile: after, pending, volVotes, held: [...a.held, { to: m.from, tag: m.tag, replies: r.replies, code }] });
      }
    },

    /** Async mode: make everything pending durable and release the held replies. */
    sync(acc: Acc[], i: number, c: Transition): void {
      const a = acc[i]!;
      const durable = rebuild(a.durable, a.pending);
      if (o.rebuildCheck && encDurablePart(durable) !== encDurablePart(a.volatile)) c.bad.push(`acceptor ${i}: ${notRebuilt}`);
      const receipt = mintReceipt(++batch);
      for (const h of a.held) releaseTo(c, i, h.to, h.tag, release(h.replies, receipt));
      acc[i] = { durable, volatile: a.volatile, pending: [], held: [], votes: a.volVotes, volVotes: a.volVotes, memo: EMPTY_MEMO };
      c.changed = true;
    },

    /** Acceptor `i` crashes and restarts from its durable state. */
    crash(acc: Acc[], i: number, c: Transition): void {
      const a = acc[i]!;
      acc[i] = { durable: a.durable, volatile: a.durable, pending: [], held: [], votes: a.votes, volVotes: a.votes, memo: EMPTY_MEMO };
      c.events |= EV.crashLostState;
      c.changed = true;
    },

    /** Sync mode: would a crash right after a step lose anything (volatile hints, or what a planted
     *  bug let out)? With a correct driver only such crashes are worth offering. */
    lossy(a: Acc): boolean {
      return planted("replyBeforePersist") || encSpace(a.volatile) !== encSpace(a.durable);
    },
  };
}
