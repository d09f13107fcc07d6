/**
 * The in-repo participant's state machine: an account book (the bank workload's accounts). A
 * participant holds some accounts; a transfer debits one account and credits another, often at two
 * participants, so each participant's part is a list of `Op`s on its own accounts.
 *
 * Preparing locks every account the ops touch (no waiting: a locked account means NO) and checks
 * that no balance would go negative, even with every transaction prepared here committing; the YES
 * vote carries the ops (the participant's redo record: after a restart it finds them in its vote),
 * a NO says why (an account unknown or locked by another transaction, a balance that would go
 * negative, a payload with no ops). Deciding releases the locks and, on commit, applies the ops.
 * Both are idempotent per transaction key. The book is the bank's `Book` (participant.ts). Pure:
 * the node persists what `decide` applied (apps/txn/node/accounts.ts), the simulator keeps it in
 * memory.
 */
import { assert } from "../../../verify/runtime/assert.ts";
import type { Outcome } from "./outcome.ts";
import type { Book, Decision } from "./participant.ts";
import { TXN_LIMITS } from "./record.ts";

export interface Op {
  readonly account: string;
  /** Added to the balance on commit: negative for a debit. An integer (cents). */
  readonly delta: number;
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder("utf-8", { fatal: true });

export const encodeOps = (ops: readonly Op[]): Uint8Array => utf8.encode(JSON.stringify(ops.map((o) => [o.account, o.delta])));

/** The ops a payload holds, or undefined when it holds none (never throws). */
export function decodeOps(bytes: Uint8Array): Op[] | undefined {
  if (bytes.byteLength > TXN_LIMITS.payloadBytesMax) return undefined;
  try {
    const v: unknown = JSON.parse(utf8d.decode(bytes));
    if (!Array.isArray(v)) return undefined;
    const ops: Op[] = [];
    for (const x of v) {
      if (!Array.isArray(x) || typeof x[0] !== "string" || !Number.isSafeInteger(x[1])) return undefined;
      ops.push({ account: x[0], delta: x[1] as number });
    }
    return ops;
  } catch {
    return undefined;
  }
}

interface Prepared {
  readonly ops: readonly Op[];
  /** The vote: true (YES), or why NO. */
  readonly vote: true | string;
}

export class AccountBook implements Book<readonly Op[]> {
  /** account → the transaction key holding its lock. */
  private readonly locks = new Map<string, string>();
  private readonly prepared = new Map<string, Prepared>();

  constructor(
    /** The balances, as committed transactions left them. */
    readonly balances: Map<string, number>,
    /** Every transaction decided here (kept: a retry or a late message must not apply it twice). */
    readonly decided: Map<string, Outcome>,
  ) {}

  /** The transactions prepared and not decided, with their ops. */
  get open(): ReadonlyMap<string, Prepared> {
    return this.prepared;
  }

  isDecided(key: string): boolean {
    return this.decided.has(key);
  }

  decode(payload: Uint8Array): readonly Op[] | undefined {
    return decodeOps(payload);
  }

  /** This participant's vote on `ops` for transaction `key`: true (YES, which locks their accounts)
   *  or why NO. Asking again gives the same vote. Undefined: `key` is decided already (the question is moot). */
  prepare(key: string, ops: readonly Op[] | undefined): true | string | undefined {
    if (this.decided.has(key)) return undefined;
    const known = this.prepared.get(key);
    if (known) return known.vote;
    const vote = ops === undefined ? "no ops" : (this.refusal(key, ops) ?? true);
    const locked = vote === true && ops !== undefined ? ops : [];
    for (const o of locked) this.locks.set(o.account, key);
    this.prepared.set(key, { ops: locked, vote });
    return vote;
  }

  /** Why `ops` cannot be prepared for `key`, or undefined when they can. */
  private refusal(key: string, ops: readonly Op[]): string | undefined {
    const after = new Map<string, number>();
    for (const o of ops) {
      const balance = after.get(o.account) ?? this.balances.get(o.account);
      if (balance === undefined) return `unknown account ${o.account}`;
      const holder = this.locks.get(o.account);
      if (holder !== undefined && holder !== key) return `account ${o.account} is locked by another transaction`;
      after.set(o.account, balance + o.delta);
    }
    for (const [account, b] of after) if (b < 0) return `account ${account} would go negative`;
    return undefined;
  }

  /**
   * `key` is decided: release its locks and, on commit, apply its ops (from the prepare, or `ops`
   * read back from our vote when this life never prepared it). Returns the decision with the ops
   * applied, or undefined when `key` was decided before.
   */
  decide(key: string, outcome: Outcome, ops?: readonly Op[]): Decision<readonly Op[]> | undefined {
    if (this.decided.has(key)) return undefined;
    const p = this.prepared.get(key);
    this.prepared.delete(key);
    for (const o of p?.ops ?? []) if (this.locks.get(o.account) === key) this.locks.delete(o.account);
    this.decided.set(key, outcome);
    if (outcome === "aborted") return { outcome };
    assert(p === undefined || p.vote === true, () => `transaction ${key} committed though this participant voted NO`);
    const applied = p?.ops ?? ops;
    assert(applied !== undefined, () => `transaction ${key} committed and its ops are unknown`);
    for (const o of applied) this.balances.set(o.account, (this.balances.get(o.account) ?? 0) + o.delta);
    return { outcome, part: applied };
  }
}
