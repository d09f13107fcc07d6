/**
 * The benchmark's baseline for WormTX (issue 12): classic two-phase commit with a durable
 * coordinator decision record, on the same register layer. A participant prepares by locking its
 * accounts (the same account book as WormTX's store, apps/txn/core/bank.ts) and logging the prepare
 * in a synced write of its own store before it votes; the coordinator collects the votes, makes its
 * decision durable by owner-writing it into a register of its own (one accept round to the
 * acceptors), and only then tells the participants. A coordinator that dies between the votes and
 * its record blocks every prepared participant: the cost WormTX's vote registers avoid.
 */
import { ClassicLevel } from "classic-level";
import { AccountBook, type Op } from "../../apps/txn/core/bank.ts";
import type { Outcome } from "../../apps/txn/core/outcome.ts";
import type { WorClient } from "../../wor/node/client.ts";

type Db = ClassicLevel<string, string>;

export class TwoPcParticipant {
  private writes: Promise<unknown> = Promise.resolve();
  private constructor(
    private readonly db: Db,
    private readonly book: AccountBook,
  ) {}

  static async open(dir: string, accounts: ReadonlyMap<string, number>): Promise<TwoPcParticipant> {
    const db: Db = new ClassicLevel<string, string>(dir, { keyEncoding: "utf8", valueEncoding: "utf8" });
    await db.open();
    await db.batch([...accounts].map(([a, b]) => ({ type: "put" as const, key: `b/${a}`, value: String(b) })), { sync: true });
    return new TwoPcParticipant(db, new AccountBook(new Map(accounts), new Map()));
  }

  get balances(): ReadonlyMap<string, number> {
    return this.book.balances;
  }

  /** Phase 1: vote; a YES is durable (its ops logged) before it is sent. */
  async prepare(key: string, ops: readonly Op[]): Promise<boolean> {
    const yes = this.book.prepare(key, ops) === true;
    if (yes) await this.db.put(`p/${key}`, JSON.stringify(ops), { sync: true });
    return yes;
  }

  /** Phase 2: apply the decision (idempotent), durably. */
  decide(key: string, outcome: Outcome): Promise<unknown> {
    const d = this.book.decide(key, outcome);
    if (!d) return this.writes;
    const applied = d.outcome === "committed" ? d.part : [];
    this.writes = this.db.batch(
      [
        ...applied.map((o) => ({ type: "put" as const, key: `b/${o.account}`, value: String(this.book.balances.get(o.account)) })),
        { type: "put" as const, key: `d/${key}`, value: outcome },
        { type: "del" as const, key: `p/${key}` },
      ],
      { sync: true },
    );
    return this.writes;
  }

  async close(): Promise<void> {
    await this.writes;
    await this.db.close();
  }
}

const DECISION: Record<Outcome, Uint8Array> = { committed: Uint8Array.of(1), aborted: Uint8Array.of(0) };

export class TwoPcCoordinator {
  private next = 0;
  constructor(
    private readonly client: WorClient,
    /** A register space this coordinator alone writes: address n holds transaction n's decision. */
    private readonly space: string,
  ) {}

  /** Commit one transaction over `parts`: prepare all, record the decision, then tell them. */
  async commit(parts: readonly { readonly participant: TwoPcParticipant; readonly ops: readonly Op[] }[]): Promise<Outcome> {
    const txn = this.next++;
    const key = `2pc:${txn}`;
    const votes = await Promise.all(parts.map((p) => p.participant.prepare(key, p.ops)));
    const outcome: Outcome = votes.every((v) => v) ? "committed" : "aborted";
    await this.client.unsafeWrite(this.space, txn, DECISION[outcome]);
    for (const p of parts) void p.participant.decide(key, outcome);
    return outcome;
  }
}
