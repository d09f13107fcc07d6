/**
 * The model of one write-once register for the model checker: acceptors run the real acceptor
 * `step` (paxos/acceptor.ts) and proposers run the real tallies (paxos/proposer.ts).
 *
 * Network (as in the TLA+ specifications of Paxos): the set of requests ever sent. Any request in
 * it may be received at any time, any number of times, or never: reordering, unbounded duplication
 * and loss all come from that one rule, and states do not multiply by which copy went where.
 * Replies go straight to their proposer, or are lost (`receiveLoseReply`). That is enough for the
 * safety properties: a tally counts one reply per acceptor and ignores order and duplicates, so a
 * late reply is a lost reply plus the proposer's outgoing messages being slow (they sit in the set).
 *
 * Acceptors (option `persist`):
 *  - "sync": a step's mutations are made durable before its replies are released (a receipt is
 *    minted once the real `applyMutation` has rebuilt the durable state from them). A crash hits
 *    between a step and its sync: the step's mutations are lost with its replies; the acceptor
 *    restarts from its durable state (volatile commit hints are lost too).
 *  - "async": the node's group commit: steps change the volatile state and their replies are held;
 *    a `sync` action makes everything durable and releases the held replies; a crash drops both.
 * Either way the durable state rebuilt from the persisted mutations must equal the volatile state
 * (commit hints aside): a step that forgot to persist something is caught.
 *
 * Proposer p (id p+1) proposes the value [0x10+p]: prepare at its next ballot; on a promise quorum,
 * accept the adopted value if any, else its own; on preemption or a timeout retry at a higher ballot
 * (above every rejection its round met, as the client core does), `attempts` phase-1 rounds in all;
 * after an acknowledged write, commit; then (the first `readers` proposers) read the register once. A
 * proposer may time out at any moment of a round.
 *
 * Option `unreachable` takes acceptors out for the whole run (no request reaches them) and
 * `promised` gives acceptors a promise of an idle proposer from the start: the `minority` config
 * has acceptor 0 down and the other two holding different promises, and asks that a capture
 * still succeeds (issue 8, item 1: a prepare that met one promise and one rejection used to wait
 * for the down acceptor until its deadline, then retry one round higher, forever).
 *
 * Invariants after every transition: the acceptor step invariants (paxos/acceptor-invariants.ts) and
 * the register-layer invariants (verify/spec/register-invariants.ts) against a ghost of the chosen
 * value and of every acceptor's durable votes.
 */
import { type SpaceState, emptyAcceptor, step } from "../../paxos/acceptor.ts";
import { checkAcceptorState, checkAcceptorStep } from "../../paxos/acceptor-invariants.ts";
import { OWNER_BALLOT, maxBallot, nextBallot } from "../../paxos/ballot.ts";
import { type Held, mintReceipt, release } from "../../paxos/held.ts";
import type { Mutation, Reply, Request } from "../../paxos/messages.ts";
import { AcceptTally, PrepareTally, ReadTally } from "../../paxos/proposer.ts";
import { majority } from "../../paxos/quorum.ts";
import { assert } from "../runtime/assert.ts";
import { planted } from "../runtime/planted.ts";
import { EMPTY_VOTES, checkAcked, checkCommitted, checkReadValue, observeChosen, recordVotes } from "../spec/register-invariants.ts";
import type { Model } from "./engine.ts";
import { type Acc, cloneSpace, dedupeValues, rebuild, wrap, cached, EMPTY_MEMO, encAcc, encAddrSpace, encDurablePart, encMsg, encProp, encReply, encRequest, EV, hex, INDEX, type Msg, type Prop, propCodes, sentCodes, SPACE, WOR_MODEL_DEFAULTS, type WorAction, type WorModelOptions, type WorState } from "./wor-state.ts";


// ---- Transitions. ----

export function worModel(options: Partial<WorModelOptions> = {}): Model<WorState, WorAction> & { readonly options: WorModelOptions } {
  const o: WorModelOptions = { ...WOR_MODEL_DEFAULTS, ...options };
  assert(o.acceptors >= 1 && o.proposers >= 1 && o.attempts >= 1, "model needs acceptors, proposers and attempts");
  assert(o.unreachable.length === 0 || !o.symmetry, "unreachable acceptors are not interchangeable: turn symmetry off");
  const quorum = majority(o.acceptors);
  const electorate = { acceptors: o.acceptors, quorum };
  const identity = Array.from({ length: o.acceptors }, (_, i) => i);
  const own = (p: number) => new Uint8Array([0x10 + p]);
  let batch = 0;

  interface Ctx {
    sent: Map<string, Msg>;
    /** `sent` is this transition's own copy (copy on write). */
    ownSent: boolean;
    props: Prop[];
    loseReplies: boolean;
    changed: boolean;
    events: number;
    bad: string[];
    acked: Uint8Array[];
    reads: Uint8Array[];
  }

  const send = (c: Ctx, m: Msg) => {
    const k = encMsg(m, identity);
    if (!c.sent.has(k)) {
      if (!c.ownSent) {
        c.sent = new Map(c.sent);
        c.ownSent = true;
      }
      c.sent.set(k, m);
      c.changed = true;
    }
  };
  const broadcast = (c: Ctx, from: number, tag: number, req: Request) => {
    const code = encRequest(req);
    for (let a = 0; a < o.acceptors; a++) if (!o.unreachable.includes(a)) send(c, { kind: "req", from, to: a, tag, req, code });
  };

  /** Start the next phase-1 round, or give the write up (unknown outcome). */
  const retry = (p: Prop, i: number, c: Ctx, outcome: string): Prop => {
    if (p.attempt < o.attempts) {
      const ballot = nextBallot(p.seen, i + 1);
      broadcast(c, i, p.tag + 1, { kind: "prepare", space: SPACE, from: INDEX, to: INDEX + 1, ballot });
      return { phase: "prepare", attempt: p.attempt + 1, seen: ballot, ballot, tag: p.tag + 1, replies: [] };
    }
    return finishWrite(p, i, c, outcome);
  };
  const finishWrite = (p: Prop, i: number, c: Ctx, outcome: string): Prop => {
    if (i >= o.readers) return { ...p, phase: "finished", replies: [], outcome };
    broadcast(c, i, p.tag + 1, { kind: "read", space: SPACE, from: INDEX, to: INDEX + 1 });
    return { phase: "read", attempt: p.attempt, seen: p.seen, ballot: p.ballot, tag: p.tag + 1, replies: [], outcome };
  };

  /** A reply reached proposer i in its current round. */
  const onReply = (p: Prop, i: number, m: Extract<Msg, { kind: "rep" }>, c: Ctx): Prop => {
    if (p.replies.some(([a]) => a === m.from)) return p; // a duplicate: the tally would ignore it
    const replies = [...p.replies, [m.from, m.rep, m.code] as const].sort((x, y) => x[0] - y[0]);
    const q: Prop = { ...p, replies };
    if (p.phase === "prepare") {
      const t = new PrepareTally(electorate, p.ballot);
      for (const [a, r] of replies) t.add(a, r);
      const out = t.outcome();
      if (out.kind === "pending") return q;
      if (out.kind === "captured") {
        c.events |= EV.captured;
        const adopted = out.adopted.get(INDEX);
        if (adopted) c.events |= EV.adopted;
        const value = adopted?.value ?? own(i);
        broadcast(c, i, p.tag + 1, { kind: "accept", space: SPACE, ballot: p.ballot, entries: [{ index: INDEX, value }] });
        return { ...q, phase: "accept", tag: p.tag + 1, proposing: value, replies: [] };
      }
      if (out.kind === "preempted") {
        c.events |= EV.capturePreempted;
        return retry({ ...q, seen: maxBallot(p.seen, out.by) }, i, c, "preempted");
      }
      c.bad.push(`proposer ${i}: unexpected prepare outcome ${out.kind}`);
      return q;
    }
    if (p.phase === "accept") {
      const t = new AcceptTally(electorate, p.ballot, [INDEX]);
      for (const [a, r] of replies) t.add(a, r);
      const out = t.outcome(INDEX);
      if (out.kind === "pending") return q;
      if (out.kind === "ok" || out.kind === "alreadyWritten") {
        const value = out.kind === "ok" ? p.proposing! : out.value;
        c.events |= EV.writeAcked;
        c.acked.push(value);
        if (o.commits && out.kind === "ok") broadcast(c, i, 0, { kind: "commit", space: SPACE, ballot: p.ballot, indexes: [INDEX] });
        return finishWrite(q, i, c, `${out.kind === "ok" ? "ok" : "already"}=${hex(value)}`);
      }
      if (out.kind === "preempted") {
        c.events |= EV.writePreempted;
        return retry({ ...q, seen: maxBallot(p.seen, out.by) }, i, c, "unknown");
      }
      c.bad.push(`proposer ${i}: unexpected accept outcome ${out.kind}`);
      return q;
    }
    if (p.phase === "read") return readVerdict(q, c, false);
    return p;
  };

  /** At a prepare's deadline the tally's verdict: a rejection it met lifts the proposer's ballot. */
  const deadlineSeen = (p: Prop): Prop => {
    if (p.phase !== "prepare") return p;
    const t = new PrepareTally(electorate, p.ballot);
    for (const [a, r] of p.replies) t.add(a, r);
    const out = t.outcome(true);
    return out.kind === "preempted" ? { ...p, seen: maxBallot(p.seen, out.by) } : p;
  };

  const readVerdict = (p: Prop, c: Ctx, timedOut: boolean): Prop => {
    const t = new ReadTally(electorate, INDEX, INDEX + 1);
    for (const [a, r] of p.replies) t.add(a, r);
    const out = t.outcome(INDEX, timedOut || p.replies.length === o.acceptors);
    if (out.kind === "undecided") return timedOut ? { ...p, phase: "finished", replies: [], outcome: `${p.outcome} read:timeout` } : p;
    if (out.kind === "written") {
      c.events |= EV.readWritten;
      c.reads.push(out.value);
    }
    if (out.kind === "unwritten") c.events |= EV.readUnwritten;
    const seen = out.kind === "written" ? `=${hex(out.value)}` : "";
    return { ...p, phase: "finished", replies: [], outcome: `${p.outcome} read:${out.kind}${seen}` };
  };

  const releaseTo = (c: Ctx, from: number, to: number, tag: number, replies: readonly Reply[]) => {
    if (c.loseReplies) return;
    for (const rep of replies) {
      const p = c.props[to]!;
      // A reply to a round its proposer has left (or to a commit) is ignored.
      if (tag !== p.tag || p.phase === "finished") continue;
      const q = onReply(p, to, { kind: "rep", from, to, tag, rep, code: encReply(rep) }, c);
      if (q !== p) {
        c.props[to] = q;
        c.changed = true;
      }
    }
  };

  /** The real step, its invariant checks and (sync mode) the rebuild from its mutations, memoised:
   *  a step is a function of the state it meets and the request. */
  interface Stepped {
    /** The new state; undefined when the step changed nothing. */
    readonly after: SpaceState | undefined;
    readonly persist: readonly Mutation[];
    readonly replies: Held<readonly Reply[]>;
    readonly bad: readonly string[];
    readonly durable?: SpaceState;
  }
  const stepCache = new Map<string, Stepped>();
  const cachedStep = (a: Acc, m: Extract<Msg, { kind: "req" }>): Stepped => {
    const before = a.volatile;
    const key = `${encAddrSpace(before)}|${o.persist === "sync" ? encAddrSpace(a.durable) : ""}|${m.code}`;
    let hit = stepCache.get(key);
    if (hit) return hit;
    const r = step(wrap(cloneSpace(before)), m.req);
    const stepped = r.state.spaces.get(SPACE)!;
    const bad = [...checkAcceptorStep(wrap(before), wrap(stepped), m.req), ...checkAcceptorState(wrap(stepped))];
    // An unchanged state keeps its identity (see `deliverToAcceptor`), so comparisons are by reference.
    // (A repeated prepare at the promised ballot re-persists an identical state: still unchanged.)
    const unchanged = encAddrSpace(stepped) === encAddrSpace(before);
    const after = unchanged ? undefined : stepped;
    let durable: SpaceState | undefined;
    if (o.persist === "sync" && r.persist.length > 0) {
      durable = rebuild(a.durable, r.persist);
      if (encDurablePart(durable) !== encDurablePart(stepped)) bad.push("persisted mutations do not rebuild the state");
    }
    hit = { after, persist: r.persist, replies: r.replies, bad, ...(durable ? { durable } : {}) };
    stepCache.set(key, hit);
    return hit;
  };

  const setAcc = (acc: Acc[], i: number, a: Acc, next: Acc, key: string, crash: boolean, c: Ctx): void => {
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

  const deliverToAcceptor = (acc: Acc[], m: Extract<Msg, { kind: "req" }>, c: Ctx, crash = false) => {
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
      releaseTo(c, m.to, m.from, m.tag, release(r.replies, mintReceipt(batch)));
      set({ ...a, volatile: after, volVotes });
    } else if (planted("replyBeforePersist")) {
      // PLANTED BUG: the replies leave before the step's mutations are durable.
      releaseTo(c, m.to, m.from, m.tag, release(r.replies, mintReceipt(batch)));
      set({ ...a, volatile: after, pending, volVotes });
    } else {
      const code = `${m.code}@${encAddrSpace(before)}`;
      set({ ...a, volatile: after, pending, volVotes, held: [...a.held, { to: m.from, tag: m.tag, replies: r.replies, code }] });
    }
  };

  const init = (): WorState => {
    const created = step(emptyAcceptor(), { kind: "createSpace", space: SPACE }).state.spaces.get(SPACE)!;
    const promisedAt = (a: number): SpaceState => {
      const ballot = o.promised[a];
      if (!ballot) return created;
      return step(wrap(cloneSpace(created)), { kind: "prepare", space: SPACE, from: INDEX, to: INDEX + 1, ballot }).state.spaces.get(SPACE)!;
    };
    const acc: Acc[] = identity.map((a) => ({
      durable: promisedAt(a),
      volatile: promisedAt(a),
      pending: [],
      held: [],
      votes: EMPTY_VOTES,
      volVotes: EMPTY_VOTES,
      memo: EMPTY_MEMO,
    }));
    const props: Prop[] = [];
    const c: Ctx = { sent: new Map(), ownSent: true, props, loseReplies: false, changed: false, events: 0, bad: [], acked: [], reads: [] };
    for (let i = 0; i < o.proposers; i++) {
      const ballot = nextBallot(OWNER_BALLOT, i + 1);
      props.push({ phase: "prepare", attempt: 1, seen: ballot, ballot, tag: 1, replies: [] });
      broadcast(c, i, 1, { kind: "prepare", space: SPACE, from: INDEX, to: INDEX + 1, ballot });
    }
    return { acc, props, sent: c.sent, crashLeft: o.crashes, chosen: new Map(), acked: [], events: 0 };
  };

  const encode = (s: WorState): string => {
    const accs = s.acc.map(encAcc);
    let perm = identity;
    if (o.symmetry) {
      // Rename acceptors in the order of their local states, so symmetric states mostly meet
      // (a sound under-approximation of full canonicalisation: equal codes ⇒ symmetric states).
      const order = [...identity].sort((x, y) => (accs[x]! < accs[y]! ? -1 : accs[x]! > accs[y]! ? 1 : x - y));
      perm = new Array(o.acceptors);
      order.forEach((a, rank) => {
        perm[a] = rank;
      });
      accs.sort();
    }
    const pk = perm.join("");
    const net = cached(sentCodes, s.sent, pk, () =>
      [...s.sent.values()]
        .map((m) => encMsg(m, perm))
        .sort()
        .join(" "),
    );
    const props = s.props.map((p) => cached(propCodes, p, pk, () => encProp(p, perm))).join("|");
    const chosen = s.chosen.get(`${SPACE}[${INDEX}]`);
    return `${accs.join("|")}\n${props}\n${net}\n${s.crashLeft}${chosen ? hex(chosen) : "-"}${s.acked.map(hex).sort().join(",")}`;
  };

  const next = (s: WorState, action: WorAction): WorState | undefined => {
    const props = [...s.props];
    const c: Ctx = {
      sent: s.sent as Map<string, Msg>,
      ownSent: false,
      props,
      loseReplies: action.kind === "receiveLoseReply",
      changed: false,
      events: 0,
      bad: [],
      acked: [],
      reads: [],
    };
    const acc = [...s.acc];
    let { crashLeft } = s;
    switch (action.kind) {
      case "receive":
      case "receiveLoseReply":
        deliverToAcceptor(acc, s.sent.get(action.msg)! as Extract<Msg, { kind: "req" }>, c);
        break;
      case "crashAfter": {
        const m = s.sent.get(action.msg)! as Extract<Msg, { kind: "req" }>;
        deliverToAcceptor(acc, m, c, true);
        if (!c.changed) return undefined;
        crashLeft--;
        break;
      }
      case "sync": {
        const a = acc[action.acceptor]!;
        const durable = rebuild(a.durable, a.pending);
        if (encDurablePart(durable) !== encDurablePart(a.volatile)) c.bad.push(`acceptor ${action.acceptor}: persisted mutations do not rebuild the state`);
        const receipt = mintReceipt(++batch);
        for (const h of a.held) releaseTo(c, action.acceptor, h.to, h.tag, release(h.replies, receipt));
        acc[action.acceptor] = { durable, volatile: a.volatile, pending: [], held: [], votes: a.volVotes, volVotes: a.volVotes, memo: EMPTY_MEMO };
        c.changed = true;
        break;
      }
      case "crash": {
        const a = acc[action.acceptor]!;
        acc[action.acceptor] = { durable: a.durable, volatile: a.durable, pending: [], held: [], votes: a.votes, volVotes: a.votes, memo: EMPTY_MEMO };
        crashLeft--;
        c.events |= EV.crashLostState;
        c.changed = true;
        break;
      }
      case "timeout": {
        const p = props[action.proposer]!;
        c.events |= EV.timedOut;
        props[action.proposer] = p.phase === "read" ? readVerdict(p, c, true) : retry(deadlineSeen(p), action.proposer, c, "unknown");
        c.changed = true;
        break;
      }
    }
    // A receive that changed nothing is a self-loop: not a transition.
    if (!c.changed && c.bad.length === 0) return undefined;
    // Register-layer invariants over the durable votes and states, with the ghost of what was chosen.
    // (Each check runs only when what it reads changed: the rest was checked on the way here.)
    const votesChanged = acc.some((a, i) => a.votes !== s.acc[i]!.votes);
    const seen = votesChanged
      ? observeChosen(
          s.chosen,
          acc.map((a) => a.votes),
          quorum,
        )
      : { ghost: s.chosen, violations: [] };
    c.bad.push(...seen.violations);
    const accChanged = acc.some((a, i) => a.durable !== s.acc[i]!.durable || a.volatile !== s.acc[i]!.volatile);
    const durable = acc.map((a) => wrap(a.durable));
    if (accChanged || seen.ghost !== s.chosen) c.bad.push(...checkCommitted(seen.ghost, [...durable, ...acc.map((a) => wrap(a.volatile))]));
    for (const v of c.reads) c.bad.push(...checkReadValue(seen.ghost, SPACE, INDEX, v));
    const acked = c.acked.length > 0 ? dedupeValues([...s.acked, ...c.acked]) : s.acked;
    if (accChanged || acked !== s.acked) for (const v of acked) c.bad.push(...checkAcked(seen.ghost, durable, quorum, SPACE, INDEX, v));
    return {
      acc,
      props,
      sent: c.sent,
      crashLeft,
      chosen: seen.ghost,
      acked,
      events: c.events,
      ...(c.bad.length > 0 ? { bad: c.bad.join("; ") } : {}),
    };
  };

  return {
    options: o,
    init: () => [init()],
    actions(s) {
      const out: WorAction[] = [];
      for (const [k, m] of s.sent) {
        if (s.acc[m.to]!.memo.has(k)) continue;
        out.push({ kind: "receive", msg: k });
        // Losing a reply nobody waits for is the same transition as delivering it.
        const p = s.props[m.from]!;
        if (p.tag === m.tag && p.phase !== "finished" && !p.replies.some(([x]) => x === m.to)) out.push({ kind: "receiveLoseReply", msg: k });
        // With a correct driver a crash right after a step loses only volatile commit hints: offer
        // it where there are some to lose, or where the planted bug lets replies out first.
        const a = s.acc[m.to]!;
        const lossy = planted("replyBeforePersist") || encAddrSpace(a.volatile) !== encAddrSpace(a.durable);
        if (o.persist === "sync" && s.crashLeft > 0 && lossy) out.push({ kind: "crashAfter", msg: k });
      }
      s.acc.forEach((a, i) => {
        const dirty = a.pending.length > 0 || a.held.length > 0;
        if (dirty) out.push({ kind: "sync", acceptor: i });
        if (dirty && s.crashLeft > 0) out.push({ kind: "crash", acceptor: i });
      });
      s.props.forEach((p, i) => {
        if (p.phase !== "finished") out.push({ kind: "timeout", proposer: i });
      });
      return out;
    },
    next,
    encode,
    formatAction(a) {
      switch (a.kind) {
        case "receive":
          return `receive ${a.msg}`;
        case "receiveLoseReply":
          return `receive ${a.msg}, lose the reply`;
        case "crashAfter":
          return `receive ${a.msg}, then crash that acceptor before it syncs`;
        case "sync":
        case "crash":
          return `${a.kind} acceptor ${a.acceptor}`;
        case "timeout":
          return `timeout proposer ${a.proposer}`;
      }
    },
    formatState(s) {
      const accs = s.acc.map((a, i) => `acceptor ${i}: ${encAcc(a)}`);
      const props = s.props.map((p, i) => `proposer ${i}: ${encProp(p, identity)}`);
      const net = [...s.sent.keys()].join(" ");
      const chosen = s.chosen.get(`${SPACE}[${INDEX}]`);
      return [...accs, ...props, `sent: ${net || "(none)"}`, `chosen: ${chosen ? hex(chosen) : "-"}${s.bad ? `\nVIOLATION: ${s.bad}` : ""}`].join("\n");
    },
    always: [{ name: "register and acceptor invariants", check: (s) => s.bad }],
    sometimes: [
      { name: "a value was chosen", check: (s) => s.chosen.size > 0 },
      { name: "a capture was preempted", check: (s) => (s.events & EV.capturePreempted) !== 0 },
      { name: "a proposer adopted an accepted value", check: (s) => (s.events & EV.adopted) !== 0 },
      { name: "a write was acknowledged", check: (s) => (s.events & EV.writeAcked) !== 0 },
      { name: "a write was preempted (outcome unknown)", check: (s) => (s.events & EV.writePreempted) !== 0 },
      { name: "a proposer timed out", check: (s) => (s.events & EV.timedOut) !== 0 },
      ...(o.readers > 0
        ? [
            { name: "a read returned a written value", check: (s: WorState) => (s.events & EV.readWritten) !== 0 },
            { name: "a read returned unwritten", check: (s: WorState) => (s.events & EV.readUnwritten) !== 0 },
          ]
        : []),
      ...(o.crashes > 0 ? [{ name: "a crash lost unsynced state", check: (s: WorState) => (s.events & EV.crashLostState) !== 0 }] : []),
      ...(o.unreachable.length > 0
        ? [{ name: "a capture succeeded with a minority unreachable", check: (s: WorState) => (s.events & EV.captured) !== 0 }]
        : []),
    ],
    eventually: [{ name: "every proposer finished", check: (s) => s.props.every((p) => p.phase === "finished") }],
  };
}
