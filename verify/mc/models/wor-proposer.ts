/**
 * The register model's proposers run the real operations of wor/core/ops.ts: `capture` (phase 1,
 * retried while preempted, and its finish round for every value found), `write` and `read` (with
 * recovery: a capture over what it found unsettled). Each proposer follows a script: capture
 * [0, addresses), write its value [0x10+p] at every address the capture found empty, start over
 * while its write is preempted or times out and phase-1 rounds are left (`attempts`), then (the
 * first `readers` proposers) read [0, addresses). Rounds are decided by the real `RoundTally`
 * (wor/core/rounds.ts), and the highest rejection a round met is learned before the operation
 * resumes, as the client core (wor/core/client-core.ts) does.
 *
 * A generator cannot be copied or hashed, so a proposer's state is the list of round verdicts fed
 * to its script so far and the replies of its current round. A step replays the verdicts into a
 * fresh script: the operations are deterministic given their inputs and their context, whose only
 * state is the highest ballot seen (rebuilt by the replay; the value cache is off, so every read
 * asks the acceptors). Replays are memoised by the verdicts' encodings. A verdict's encoding holds
 * everything an operation reads of it (failure messages aside: the script acts on failure codes).
 *
 * The state's encoding is smaller than the history: the script meets its context only through the
 * values handed to it, round outcomes and the ballots `nextBallot` returns (a rejection only raises
 * the highest ballot seen). So a proposer is encoded by its outcomes, the ballots it made, the
 * highest ballot seen while it may still make one, and its current round's replies: two
 * interleavings that differ only in rejections that changed no ballot are one state.
 */
import { type Ballot, OWNER_BALLOT, maxBallot, nextBallot } from "../../../paxos/ballot.ts";
import type { Reply, Request, SpaceName } from "../../../paxos/messages.ts";
import type { PrepareOutcome, ReadTally, VoteOutcome } from "../../../paxos/proposer.ts";
import { majority } from "../../../paxos/quorum.ts";
import * as ops from "../../../wor/core/ops.ts";
import type { OpContext } from "../../../wor/core/ops.ts";
import { type Round, type RoundOutcome, RoundTally, isFailure, roundRequest } from "../../../wor/core/rounds.ts";
import { AssertionFailed, assert } from "../../runtime/assert.ts";
import { EV, SPACE, type Transition, type WorModelOptions, b, encReply, encRequest, hex } from "./wor-state.ts";

type SentRound = Exclude<Round, { kind: "sleep" }>;

/** A round's outcome as fed to the script, with the highest rejection the round met. */
interface Verdict {
  readonly outcome: RoundOutcome;
  readonly rejection?: Ballot;
  /** The outcome's encoding, and (`code`) with the rejection: what a replay depends on. */
  readonly outcomeCode: string;
  readonly code: string;
}

export interface Prop {
  readonly verdicts: readonly Verdict[];
  /** The round the script waits on; undefined once the script returned. */
  readonly round?: SentRound;
  /** Replies of the current round: acceptor, reply, reply encoding; sorted by acceptor. */
  readonly replies: readonly (readonly [number, Reply, string])[];
  /** What the script returned (for traces). */
  readonly result?: string;
  /** The outcomes, the ballots made, and the highest ballot seen if another may be made. */
  readonly code: string;
}

/** Replies carry their round's tag; replies of older rounds are discarded. Commits go at tag 0. */
const propTag = (p: Prop): number => p.verdicts.length + 1;

/** What the script did while taking its latest verdict. */
interface Effects {
  readonly commits: Request[];
  readonly acked: [number, Uint8Array][];
  readonly reads: [number, Uint8Array][];
  events: number;
}
const noEffects = (): Effects => ({ commits: [], acked: [], reads: [], events: 0 });

/** The register operations' context in a model: ballots above every one seen, no cache, commits
 *  as requests gathered in `fx.commits` (the effects of the verdict being taken). The txn model's
 *  actors use it too. */
export class ModelOpContext<F extends { readonly commits: Request[]; events: number }> implements OpContext {
  seen: Ballot = OWNER_BALLOT;
  /** The ballots of the phase-1 rounds started so far. */
  readonly made: Ballot[] = [];
  /** Unused by capture, write and read. */
  readonly segmentSize = 1;
  constructor(
    readonly proposerId: number,
    public preemptRetriesMax: number,
    private readonly commits: boolean,
    public fx: F,
  ) {}
  nextBallot(): Ballot {
    this.seen = nextBallot(this.seen, this.proposerId);
    this.made.push(this.seen);
    return this.seen;
  }
  learnBallot(ballot: Ballot): void {
    this.seen = maxBallot(this.seen, ballot);
  }
  cached(): undefined {
    return undefined;
  }
  remember(): void {}
  commit(space: SpaceName, ballot: Ballot, indexes: readonly number[]): void {
    if (this.commits) this.fx.commits.push({ kind: "commit", space, ballot, indexes: [...indexes] });
  }
  forgetBelow(): void {}
  /** The model's clients never follow a new configuration. */
  generation(): number {
    return 0;
  }
}

/** A register proposer's context: at most `ballotsMax` ballots; a ballot made while reading is a recovery. */
class ScriptContext extends ModelOpContext<Effects> {
  reading = false;
  constructor(
    proposerId: number,
    commits: boolean,
    /** The most ballots the script makes (the encoding leaves `seen` out once they are made). */
    readonly ballotsMax: number,
  ) {
    super(proposerId, 1, commits, noEffects());
  }
  get ballots(): number {
    return this.made.length;
  }
  override nextBallot(): Ballot {
    assert(this.made.length < this.ballotsMax, "a proposer made more ballots than its script allows");
    if (this.reading) this.fx.events |= EV.recovered;
    return super.nextBallot();
  }
}

interface Plan {
  readonly proposerId: number;
  readonly value: Uint8Array;
  readonly addresses: number;
  readonly attempts: number;
  readonly read: boolean;
  readonly recover: boolean;
}

/** One proposer's run, made of the real operations. Returns a summary for traces. */
function* script(ctx: ScriptContext, plan: Plan): Generator<Round, string, RoundOutcome> {
  let outcome = "gave up";
  for (let op = 1; ctx.ballots < plan.attempts; op++) {
    ctx.preemptRetriesMax = plan.attempts - ctx.ballots;
    const c = yield* ops.capture(ctx, SPACE, 0, plan.addresses);
    if (op === 1 && c.ok && c.value._tag === "Captured") ctx.fx.events |= EV.firstCaptureSucceeded;
    if (!c.ok || c.value._tag !== "Captured") {
      outcome = `capture ${c.ok ? c.value._tag : c.failure.code}`;
      continue;
    }
    for (const [i, v] of c.value.written) ctx.fx.acked.push([i, v]);
    const entries = [];
    for (let i = 0; i < plan.addresses; i++) if (!c.value.written.has(i)) entries.push({ index: i, value: plan.value });
    if (entries.length === 0) return yield* readBack(ctx, plan, "found");
    const w = yield* ops.write(ctx, c.value.capture, entries);
    if (!w.ok) {
      outcome = `write ${w.failure.code}`;
      continue;
    }
    let done = true;
    for (const e of entries) {
      const r = w.value.get(e.index)!;
      if (r._tag === "Ok") ctx.fx.acked.push([e.index, e.value]);
      else if (r._tag === "AlreadyWritten") ctx.fx.acked.push([e.index, r.value]);
      else done = false;
    }
    if (done) return yield* readBack(ctx, plan, "written");
    outcome = "write preempted";
  }
  return yield* readBack(ctx, plan, outcome);
}

function* readBack(ctx: ScriptContext, plan: Plan, outcome: string): Generator<Round, string, RoundOutcome> {
  if (!plan.read) return outcome;
  ctx.reading = true;
  ctx.preemptRetriesMax = 1;
  const r = yield* ops.read(ctx, SPACE, 0, plan.addresses, plan.recover);
  if (!r.ok) return `${outcome}; read ${r.failure.code}`;
  const seen: string[] = [];
  for (const [i, v] of r.value) {
    if (v._tag === "Written") {
      ctx.fx.events |= EV.readWritten;
      ctx.fx.reads.push([i, v.value]);
    } else if (v._tag === "Unwritten") ctx.fx.events |= EV.readUnwritten;
    seen.push(`${i}:${v._tag === "Written" ? hex(v.value) : v._tag}`);
  }
  return `${outcome}; read ${seen.join(",")}`;
}

/** Canonical encoding of a round's outcome: everything the operations read of it. */
export function encOutcome(round: SentRound, o: RoundOutcome): string {
  if (isFailure(o)) return `F${o.code}`;
  switch (round.kind) {
    case "prepare": {
      const p = o as PrepareOutcome;
      if (p.kind === "captured") {
        const adopted = [...p.adopted].sort(([x], [y]) => x - y).map(([i, a]) => `${i}@${b(a.ballot)}=${hex(a.value)}`);
        return `C[${adopted.join(",")}][${[...p.chosen].sort((x, y) => x - y).join(",")}]`;
      }
      return p.kind === "preempted" ? `P${b(p.by)}` : p.kind === "trimmed" ? `T${p.mark}` : p.kind;
    }
    case "accept": {
      const enc = (v: VoteOutcome) => (v.kind === "preempted" ? `p${b(v.by)}` : v.kind === "alreadyWritten" ? `w${hex(v.value)}` : v.kind);
      return `V[${[...(o as ReadonlyMap<number, VoteOutcome>)].map(([i, v]) => `${i}:${enc(v)}`).join(",")}]`;
    }
    case "read": {
      const t = o as ReadTally;
      const out: string[] = [];
      for (let i = round.from; i < round.to; i++) {
        const r = t.outcome(i, true);
        out.push(r.kind === "written" ? `=${hex(r.value)}` : r.kind);
      }
      return `R[${out.join(",")}]`;
    }
    default:
      throw new AssertionFailed(`the script yielded a ${round.kind} round`);
  }
}

/** Events a decided round shows. `replies`: the round's, for the two-ballot check. */
function roundEvents(round: SentRound, o: RoundOutcome, replies: Prop["replies"]): number {
  if (isFailure(o)) return 0;
  if (round.kind === "prepare") {
    const p = o as PrepareOutcome;
    if (p.kind === "preempted") return EV.capturePreempted;
    if (p.kind !== "captured") return 0;
    let ev = EV.captured | (p.adopted.size > 0 ? EV.adopted : 0);
    const ballots = new Map<number, string>();
    for (const [, r] of replies) {
      if (r.kind !== "promise") continue;
      for (const a of r.accepted) {
        if (!a.accepted) continue;
        const seen = ballots.get(a.index);
        if (seen !== undefined && seen !== b(a.accepted.ballot)) ev |= EV.sawTwoBallots;
        ballots.set(a.index, b(a.accepted.ballot));
      }
    }
    return ev;
  }
  if (round.kind === "accept" && [...(o as ReadonlyMap<number, VoteOutcome>).values()].some((v) => v.kind === "preempted")) return EV.writePreempted;
  return 0;
}

interface Replay {
  readonly round?: SentRound;
  readonly result?: string;
  readonly fx: Effects;
  /** The ballots made, and the highest seen while another may be made. */
  readonly ballots: string;
}

/** Sleeps (backoff between preempted attempts) pass at once: nothing else happens to this proposer meanwhile. */
export function resume(gen: Generator<Round, string, RoundOutcome>, input?: RoundOutcome): IteratorResult<Round, string> {
  let r = input === undefined ? gen.next() : gen.next(input);
  while (!r.done && r.value.kind === "sleep") r = gen.next({ kind: "slept" });
  return r;
}

export function proposers(o: WorModelOptions, broadcast: (c: Transition, from: number, tag: number, req: Request) => void) {
  const electorate = { acceptors: o.acceptors, quorum: majority(o.acceptors) };
  const plans: Plan[] = Array.from({ length: o.proposers }, (_, i) => ({
    proposerId: o.firstProposerId + i,
    value: new Uint8Array([0x10 + i]),
    addresses: o.addresses,
    attempts: o.attempts,
    read: i < o.readers,
    recover: o.recover,
  }));
  const memo = new Map<string, Replay>();
  /** Proposer i's script after `verdicts`: its next round, and what it did on the last verdict. */
  const replay = (i: number, verdicts: readonly Verdict[]): Replay => {
    const key = `${i}|${verdicts.map((v) => v.code).join(";")}`;
    let hit = memo.get(key);
    if (hit) return hit;
    const plan = plans[i]!;
    const ctx = new ScriptContext(plan.proposerId, o.commits, plan.attempts + (plan.read && plan.recover ? 1 : 0));
    const gen = script(ctx, plan);
    let r = resume(gen);
    verdicts.forEach((v, k) => {
      assert(!r.done, "a verdict for a script that returned");
      if (k === verdicts.length - 1) ctx.fx = noEffects();
      if (v.rejection) ctx.learnBallot(v.rejection);
      r = resume(gen, v.outcome);
    });
    const ballots = `${ctx.made.map(b).join(",")}${ctx.ballots < ctx.ballotsMax ? `<${b(ctx.seen)}` : ""}`;
    hit = r.done ? { result: r.value, fx: ctx.fx, ballots } : { round: r.value as SentRound, fx: ctx.fx, ballots };
    memo.set(key, hit);
    return hit;
  };

  /** Send the script's next round and apply what it did. */
  const enter = (c: Transition, i: number, verdicts: readonly Verdict[]): Prop => {
    const r = replay(i, verdicts);
    for (const req of r.fx.commits) broadcast(c, i, 0, req);
    c.acked.push(...r.fx.acked);
    c.reads.push(...r.fx.reads);
    c.events |= r.fx.events;
    const code = `${verdicts.map((v) => v.outcomeCode).join(";")}[${r.ballots}]`;
    const p: Prop = { verdicts, replies: [], code, ...(r.round ? { round: r.round } : {}), ...(r.result !== undefined ? { result: r.result } : {}) };
    if (r.round) broadcast(c, i, propTag(p), roundRequest(r.round));
    return p;
  };

  /** The round's verdict, if it has one (`deadline`: its time is up), fed to the script. */
  const decide = (c: Transition, i: number, p: Prop, deadline: boolean): Prop => {
    const round = p.round!;
    const t = new RoundTally(round, electorate, 0);
    for (const [a, r] of p.replies) t.add(a, r);
    const outcome = t.decide(deadline);
    if (!outcome) return p;
    const rejection = t.highestRejection();
    const outcomeCode = encOutcome(round, outcome);
    const code = `${outcomeCode}${rejection ? `^${b(rejection)}` : ""}`;
    c.events |= roundEvents(round, outcome, p.replies);
    return enter(c, i, [...p.verdicts, { outcome, outcomeCode, code, ...(rejection ? { rejection } : {}) }]);
  };

  return {
    init(c: Transition): void {
      for (let i = 0; i < o.proposers; i++) c.props.push(enter(c, i, []));
    },
    /** A reply from acceptor `from` reached proposer `i`'s round `tag`. */
    onReply(c: Transition, i: number, from: number, tag: number, rep: Reply): void {
      const p = c.props[i]!;
      // A reply to a round its proposer has left (or to a commit), or a duplicate: ignored.
      if (!p.round || tag !== propTag(p) || p.replies.some(([a]) => a === from)) return;
      const replies = [...p.replies, [from, rep, encReply(rep)] as const].sort((x, y) => x[0] - y[0]);
      c.props[i] = decide(c, i, { ...p, replies }, false);
      c.changed = true;
    },
    /** Proposer `i`'s round reaches its deadline. */
    timeout(c: Transition, i: number): void {
      c.props[i] = decide(c, i, c.props[i]!, true);
      c.events |= EV.timedOut;
      c.changed = true;
    },
    finished: (p: Prop): boolean => p.round === undefined,
    /** Still waiting for acceptor `a` in round `tag`? */
    waitsFor: (p: Prop, a: number, tag: number): boolean => p.round !== undefined && propTag(p) === tag && !p.replies.some(([x]) => x === a),
    /** A proposer that returned acts no more (its acks and reads are in the ghost): its history is not encoded. */
    encode(p: Prop, perm: readonly number[]): string {
      if (!p.round) return ".";
      const replies = p.replies.map(([a, , code]) => `${perm[a]}:${code}`).sort();
      return `${p.code}(${replies.join(";")})`;
    },
    format(p: Prop): string {
      const now = p.round ? `waiting on ${encRequest(roundRequest(p.round))}, replies (${p.replies.map(([a, , code]) => `${a}:${code}`).join("; ")})` : `returned: ${p.result}`;
      return `verdicts [${p.verdicts.map((v) => v.code).join("; ")}], ${now}`;
    },
  };
}
