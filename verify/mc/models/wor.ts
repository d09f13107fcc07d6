/**
 * The register model for the model checker: write-once registers at addresses [0, addresses) of
 * one space. Acceptors run the real acceptor `step` (paxos/acceptor.ts; wor-acceptor.ts), proposers
 * run the real operations of wor/core/ops.ts decided by the real round tallies (wor-proposer.ts).
 *
 * Network (as in the TLA+ specifications of Paxos): the set of requests ever sent. Any request in
 * it may be received at any time, any number of times, or never: reordering, unbounded duplication
 * and loss all come from that one rule, and states do not multiply by which copy went where.
 * Replies go straight to their proposer, or are lost (`receiveLoseReply`). That is enough for the
 * safety properties: a tally counts one reply per acceptor and ignores order and duplicates, so a
 * late reply is a lost reply plus the proposer's outgoing messages being slow (they sit in the set).
 * A proposer may time out at any moment of a round: the round gets its tally's verdict at the
 * deadline, as in the client core.
 *
 * Option `unreachable` takes acceptors out for the whole run (no request reaches them) and `seed`
 * gives acceptors what proposers outside the model did before they fell idle (requests served
 * with the real step): the `minority` config has acceptor 0 down and the other two holding
 * different promises, and asks that a proposer's first capture operation still succeeds (issue 8,
 * item 1: a prepare that met one promise and one rejection used to wait for the down acceptor
 * until its deadline and fail); the `range` config starts from an older range capture whose
 * write reached one acceptor, a third ballot below the model's two (see verify/mc/run.ts).
 *
 * Invariants after every transition: the acceptor step invariants (paxos/acceptor-invariants.ts),
 * the rebuild of each durable state from its persisted mutations, and the register-layer
 * invariants (verify/spec/register-invariants.ts) against a ghost of the chosen values and of
 * every acceptor's durable votes: at most one value chosen per address and never another, commit
 * flags only on chosen values, reads (and values a capture finished) return the chosen value,
 * acknowledged writes are chosen and durable at a quorum.
 */
import { type Ballot, ballotLt } from "../../../paxos/ballot.ts";
import { majority } from "../../../paxos/quorum.ts";
import { assert } from "../../runtime/assert.ts";
import { checkAcked, checkCommitted, checkReadValue, observeChosen } from "../../spec/register-invariants.ts";
import type { Model } from "../engine.ts";
import { acceptors, wrap } from "./wor-acceptor.ts";
import { proposers } from "./wor-proposer.ts";
import {
  EV,
  type Msg,
  type ReqMsg,
  SPACE,
  type Transition,
  WOR_MODEL_DEFAULTS,
  type WorAction,
  type WorModelOptions,
  type WorState,
  cached,
  dedupeAcked,
  encAcc,
  encMsg,
  hex,
  network,
  propCodes,
  sentCodes,
} from "./wor-state.ts";

export function worModel(options: Partial<WorModelOptions> = {}): Model<WorState, WorAction> & { readonly options: WorModelOptions } {
  const o: WorModelOptions = { ...WOR_MODEL_DEFAULTS, ...options };
  assert(o.acceptors >= 1 && o.proposers >= 1 && o.attempts >= 1 && o.addresses >= 1, "model needs acceptors, proposers, attempts and addresses");
  assert(o.unreachable.length === 0 || !o.symmetry, "unreachable acceptors are not interchangeable: turn symmetry off");
  const quorum = majority(o.acceptors);
  const net = network(o);
  const { identity } = net;
  const props = proposers(o, net.broadcast);
  const accs = acceptors(o, identity, (c, from, to, tag, replies) => {
    if (c.loseReplies) return;
    for (const rep of replies) props.onReply(c, to, from, tag, rep);
  });
  const transition = (s: { sent: ReadonlyMap<string, Msg>; props: WorState["props"] }, loseReplies: boolean, own: boolean): Transition => ({
    sent: s.sent as Map<string, Msg>,
    ownSent: own,
    props: [...s.props],
    loseReplies,
    changed: false,
    events: 0,
    bad: [],
    acked: [],
    reads: [],
  });

  const init = (): WorState => {
    const c = transition({ sent: new Map(), props: [] }, false, true);
    props.init(c);
    const acc = accs.init();
    const seen = observeChosen(
      new Map(),
      acc.map((a) => a.votes),
      quorum,
    );
    assert(seen.violations.length === 0, "the seed chose two values");
    return { acc, props: c.props, sent: c.sent, crashLeft: o.crashes, chosen: seen.ghost, acked: [], events: 0 };
  };

  const encode = (s: WorState): string => {
    const codes = s.acc.map(encAcc);
    let perm: readonly number[] = identity;
    if (o.symmetry) {
      // Rename acceptors in the order of their local states, so symmetric states mostly meet
      // (a sound under-approximation of full canonicalisation: equal codes ⇒ symmetric states).
      const order = [...identity].sort((x, y) => (codes[x]! < codes[y]! ? -1 : codes[x]! > codes[y]! ? 1 : x - y));
      const renamed = new Array<number>(o.acceptors);
      order.forEach((a, rank) => {
        renamed[a] = rank;
      });
      perm = renamed;
      codes.sort();
    }
    const pk = perm.join("");
    const net = cached(sentCodes, s.sent, pk, () =>
      [...s.sent.values()]
        .map((m) => encMsg(m, perm))
        .sort()
        .join(" "),
    );
    const ps = s.props.map((p) => cached(propCodes, p, pk, () => props.encode(p, perm))).join("|");
    const chosen = [...s.chosen].map(([k, v]) => `${k}=${hex(v)}`).sort();
    const acked = s.acked.map(([i, v]) => `${i}=${hex(v)}`).sort();
    return `${codes.join("|")}\n${ps}\n${net}\n${s.crashLeft}[${chosen.join(",")}][${acked.join(",")}]`;
  };

  const next = (s: WorState, action: WorAction): WorState | undefined => {
    const c = transition(s, action.kind === "receiveLoseReply", false);
    const acc = [...s.acc];
    let { crashLeft } = s;
    switch (action.kind) {
      case "receive":
      case "receiveLoseReply":
        accs.deliver(acc, s.sent.get(action.msg)! as ReqMsg, c);
        break;
      case "crashAfter":
        accs.deliver(acc, s.sent.get(action.msg)! as ReqMsg, c, true);
        if (!c.changed) return undefined;
        crashLeft--;
        break;
      case "sync":
        accs.sync(acc, action.acceptor, c);
        break;
      case "crash":
        accs.crash(acc, action.acceptor, c);
        crashLeft--;
        break;
      case "timeout":
        props.timeout(c, action.proposer);
        break;
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
    for (const [i, v] of c.reads) c.bad.push(...checkReadValue(seen.ghost, SPACE, i, v));
    const acked = c.acked.length > 0 ? dedupeAcked([...s.acked, ...c.acked]) : s.acked;
    if (c.acked.length > 0) c.events |= EV.writeAcked;
    if (accChanged || acked !== s.acked) for (const [i, v] of acked) c.bad.push(...checkAcked(seen.ghost, durable, quorum, SPACE, i, v));
    return {
      acc,
      props: c.props,
      sent: c.sent,
      crashLeft,
      chosen: seen.ghost,
      acked,
      events: c.events,
      ...(c.bad.length > 0 ? { bad: c.bad.join("; ") } : {}),
    };
  };

  const ev = (bit: number) => (s: WorState) => (s.events & bit) !== 0;
  // Preemption needs a rival: another proposer, or a seeded promise above this proposer's first ballot.
  const first: Ballot = { round: 1, proposer: o.firstProposerId };
  const rivals = o.proposers > 1 || o.seed.some((reqs) => reqs.some((r) => r.kind === "prepare" && ballotLt(first, r.ballot)));
  // A crash loses something from a correct acceptor only where a state is not all durable.
  // Two accepted ballots at one address need a third ballot to see them: ballots that may reach phase 2.
  const phase2Ballots = o.proposers * o.attempts + (o.recover ? o.readers : 0) + (o.seed.some((reqs) => reqs.some((r) => r.kind === "accept")) ? 1 : 0);
  const lossyCrashes = o.crashes > 0 && (o.commits || o.persist === "async");
  return {
    options: o,
    init: () => [init()],
    actions(s) {
      const out: WorAction[] = [];
      for (const [k, m] of s.sent) {
        if (s.acc[m.to]!.memo.has(k)) continue;
        out.push({ kind: "receive", msg: k });
        // Losing a reply nobody waits for is the same transition as delivering it.
        if (props.waitsFor(s.props[m.from]!, m.to, m.tag)) out.push({ kind: "receiveLoseReply", msg: k });
        // With a correct driver a crash right after a step loses only volatile commit hints: offer
        // it where there are some to lose, or where the planted bug lets replies out first.
        if (o.persist === "sync" && s.crashLeft > 0 && accs.lossy(s.acc[m.to]!)) out.push({ kind: "crashAfter", msg: k });
      }
      s.acc.forEach((a, i) => {
        const dirty = a.pending.length > 0 || a.held.length > 0;
        if (dirty) out.push({ kind: "sync", acceptor: i });
        if (dirty && s.crashLeft > 0) out.push({ kind: "crash", acceptor: i });
      });
      s.props.forEach((p, i) => {
        if (!props.finished(p)) out.push({ kind: "timeout", proposer: i });
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
      const as = s.acc.map((a, i) => `acceptor ${i}: ${encAcc(a)}`);
      const ps = s.props.map((p, i) => `proposer ${i}: ${props.format(p)}`);
      const sent = [...s.sent.keys()].join(" ");
      const chosen = [...s.chosen].map(([k, v]) => `${k}=${hex(v)}`).join(", ");
      return [...as, ...ps, `sent: ${sent || "(none)"}`, `chosen: ${chosen || "-"}${s.bad ? `\nVIOLATION: ${s.bad}` : ""}`].join("\n");
    },
    always: [{ name: "register and acceptor invariants", check: (s) => s.bad }],
    sometimes: [
      { name: "a value was chosen", check: (s) => s.chosen.size > 0 },
      ...(rivals ? [{ name: "a capture was preempted", check: ev(EV.capturePreempted) }] : []),
      { name: "a proposer adopted an accepted value", check: ev(EV.adopted) },
      { name: "a write was acknowledged", check: ev(EV.writeAcked) },
      ...(rivals ? [{ name: "a write was preempted (outcome unknown)", check: ev(EV.writePreempted) }] : []),
      { name: "a proposer timed out", check: ev(EV.timedOut) },
      ...(o.readers > 0
        ? [
            { name: "a read returned a written value", check: ev(EV.readWritten) },
            { name: "a read returned unwritten", check: ev(EV.readUnwritten) },
          ]
        : []),
      ...(o.readers > 0 && o.recover ? [{ name: "a read recovered what it found unsettled", check: ev(EV.recovered) }] : []),
      ...(o.addresses > 1 ? [{ name: "a range capture succeeded", check: ev(EV.captured) }] : []),
      ...(phase2Ballots >= 3
        ? [{ name: "a capture saw two accepted ballots at one address", check: ev(EV.sawTwoBallots) }]
        : []),
      ...(lossyCrashes ? [{ name: "a crash lost unsynced state", check: ev(EV.crashLostState) }] : []),
      ...(o.unreachable.length > 0 ? [{ name: "a capture succeeded with a minority unreachable", check: ev(EV.firstCaptureSucceeded) }] : []),
    ],
    eventually: [{ name: "every proposer finished", check: (s) => s.props.every(props.finished) }],
  };
}
