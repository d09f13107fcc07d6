/**
 * How many reply bytes a server holds for clients that do not read them (docs/ARCHITECTURE.md §3.3, §7.6).
 * Shared by the acceptor's server and the log sequencer's.
 *
 * Each session reports the bytes its StreamWriter holds (queued plus unflushed) and whether its
 * stream pushes back. A session is backed up while its stream pushes back, while it holds
 * `sessionBytesMax` or more, and while all sessions together hold `allSessionsBytesMax` or more and
 * it holds anything. A backed-up session is paused: the server stops reading its requests, so HTTP/2
 * flow control pushes back on the client and no new replies pile up behind the old ones. It resumes
 * once its stream takes writes again and it holds at most half its bound (and, while the total is
 * over, nothing). A session that stays backed up for `backedUpMsMax` is closed: a client that reads
 * nothing for that long must not keep the server's memory.
 */
import { assert } from "../../verify/runtime/assert.ts";

export const SESSION_BUDGET_LIMITS = Object.freeze({
  /** Reply bytes one session may hold unread before the server stops reading its requests. */
  sessionBytesMax: 64 << 20,
  /** Reply bytes all sessions of one server may hold together. */
  allSessionsBytesMax: 256 << 20,
  /** A session backed up for this long is closed with RESOURCE_EXHAUSTED. */
  backedUpMsMax: 10_000,
});

export type SessionBudgetLimits = { readonly [K in keyof typeof SESSION_BUDGET_LIMITS]: number };

/** What the budget does to one session. */
export interface BudgetedSession {
  /** Stop reading the session's requests. */
  pause(): void;
  resume(): void;
  /** Close the session: it stayed backed up past the deadline. */
  exhaust(message: string): void;
}

export class SessionBudget {
  readonly limits: SessionBudgetLimits;
  private total = 0;
  private readonly members = new Set<BudgetMember>();

  constructor(limits: Partial<SessionBudgetLimits> = {}) {
    this.limits = { ...SESSION_BUDGET_LIMITS, ...limits };
    const { sessionBytesMax, allSessionsBytesMax, backedUpMsMax } = this.limits;
    for (const [name, v] of Object.entries(this.limits)) assert(Number.isSafeInteger(v) && v > 0, `${name} must be a positive integer (got ${v})`);
    assert(sessionBytesMax <= allSessionsBytesMax, "a session's bound cannot exceed the bound of all sessions");
    assert(backedUpMsMax <= 2 ** 31 - 1, "backedUpMsMax must fit a timer");
  }

  /** Bytes all sessions hold. */
  get bytes(): number {
    return this.total;
  }

  /** Sessions paused right now. */
  get paused(): number {
    let n = 0;
    for (const m of this.members) if (m.paused) n++;
    return n;
  }

  join(session: BudgetedSession): BudgetMember {
    const m = new BudgetMember(this, session);
    this.members.add(m);
    return m;
  }

  /** @internal A member's bytes changed by `delta`. */
  adjust(m: BudgetMember, delta: number): void {
    const wasOver = this.total >= this.limits.allSessionsBytesMax;
    this.total += delta;
    assert(this.total >= 0, "session budget went negative");
    m.evaluate();
    // The total fell under its bound: sessions paused for it may go on.
    if (wasOver && this.total < this.limits.allSessionsBytesMax) for (const other of this.members) if (other !== m && other.paused) other.evaluate();
  }

  /** @internal */
  remove(m: BudgetMember): void {
    this.members.delete(m);
  }

  /** @internal Backed up: pause it. */
  isOver(bytes: number, stalled: boolean): boolean {
    return stalled || bytes >= this.limits.sessionBytesMax || (this.total >= this.limits.allSessionsBytesMax && bytes > 0);
  }

  /** @internal Caught up enough to resume. */
  canResume(bytes: number, stalled: boolean): boolean {
    return !stalled && bytes <= this.limits.sessionBytesMax / 2 && (this.total < this.limits.allSessionsBytesMax || bytes === 0);
  }
}

/** One session's share of the budget. */
export class BudgetMember {
  private held = 0;
  private stalled = false;
  private timer: NodeJS.Timeout | undefined;
  private since = 0;
  private left = false;

  constructor(
    private readonly budget: SessionBudget,
    private readonly session: BudgetedSession,
  ) {}

  get paused(): boolean {
    return this.timer !== undefined;
  }

  /** The session now holds `bytes` (its writer's pendingBytes); `stalled`: its stream pushes back. */
  update(bytes: number, stalled = false): void {
    if (this.left || (bytes === this.held && stalled === this.stalled)) return;
    assert(bytes >= 0, "a session cannot hold negative bytes");
    const delta = bytes - this.held;
    this.held = bytes;
    this.stalled = stalled;
    this.budget.adjust(this, delta);
  }

  /** The session closed: its bytes no longer count. */
  leave(): void {
    if (this.left) return;
    this.left = true;
    this.stopTimer();
    this.budget.remove(this);
    const held = this.held;
    this.held = 0;
    this.budget.adjust(this, -held);
  }

  /** @internal */
  evaluate(): void {
    if (this.left) return;
    if (!this.paused && this.budget.isOver(this.held, this.stalled)) {
      this.since = performance.now();
      this.timer = setTimeout(() => this.expire(), this.budget.limits.backedUpMsMax);
      this.session.pause();
    } else if (this.paused && this.budget.canResume(this.held, this.stalled)) {
      this.stopTimer();
      this.session.resume();
    }
  }

  private expire(): void {
    this.timer = undefined;
    const { sessionBytesMax, allSessionsBytesMax } = this.budget.limits;
    const ms = Math.round(performance.now() - this.since);
    const message =
      `the client left ${this.held} bytes of replies unread for ${ms} ms (limits: ${sessionBytesMax} bytes per session, ` +
      `${allSessionsBytesMax} across sessions, ${this.budget.bytes} held now); closing the session`;
    this.leave();
    this.session.exhaust(message);
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
