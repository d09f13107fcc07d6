/**
 * The bank of the kvtxn world (worlds/kvtxn.ts; docs/ARCHITECTURE.md §4.5): accounts are KV keys
 * whose values are decimal balances, `accountsPerParticipant` in each partition, opened by the first
 * entry of its log. Coordinators commit, through apps/kv/core/cross.ts's parts:
 *  - **transfers**: read two balances from the partitions as they are now (maybe stale by the time
 *    the parts are voted on), then compare both values and put the new balances; across two
 *    partitions mostly, sometimes within one (a single part). A transfer never takes more than the
 *    balance it read, so no balance can go negative;
 *  - **audits**: compare every balance with its value as read, and write nothing. One commits only
 *    if every partition held those values while it held their locks: its total is the bank's.
 */
import { REFUSAL } from "../../../apps/kv/core/book.ts";
import type { Compare, KvOp, KvTxn } from "../../../apps/kv/core/commands.ts";
import { participantName, splitTxn } from "../../../apps/kv/core/cross.ts";
import { type PartitionMap, partitionMap } from "../../../apps/kv/core/partitions.ts";
import { encodeTxn } from "../../../apps/kv/core/records.ts";
import type { TxnRecord } from "../../../apps/txn/core/record.ts";
import { probe } from "../../runtime/probe.ts";
import { balanceOf, balanceValue } from "./kvtxn-ledger.ts";
import { KV_NAME } from "./kvtxn-options.ts";
import type { PartitionHost, SimPartition } from "./kvtxn-partition.ts";
import type { Started, Workload } from "./txn-coordinator.ts";

/** A transaction of the bank a coordinator started. */
export interface KvStarted extends Started {
  readonly kind: "transfer" | "within" | "audit";
  /** Its part at each partition it touches. */
  readonly parts: ReadonlyMap<number, KvTxn>;
  /** An audit's: the total of the balances it read. */
  readonly total?: number;
}

/** The accounts of partition `partition`: keys `a<partition>/<n>`. */
export const accountsOf = (partition: number, n: number): string[] => Array.from({ length: n }, (_, j) => `a${partition}/${j}`);

/** The bank's partition map: partition i holds the keys from `a<i>` on. */
export const bankMap = (partitions: number): PartitionMap =>
  partitionMap(
    KV_NAME,
    0,
    Array.from({ length: partitions }, (_, i) => `127.0.0.1:${7000 + i}`),
    Array.from({ length: partitions - 1 }, (_, i) => `a${i + 1}`),
  );

/** The transaction that opens `accounts` with `balance` each. */
export const openingTxn = (accounts: readonly string[], balance: number): KvTxn => ({
  compares: [],
  success: accounts.map((key) => ({ op: "put", key, value: balanceValue(balance) })),
  failure: [],
});

const valueIs = (key: string, value: Uint8Array): Compare => ({ key, target: "value", result: "equal", value });
const put = (key: string, n: number): KvOp => ({ op: "put", key, value: balanceValue(n) });

export function kvBank(h: PartitionHost, partitions: readonly SimPartition[], map: PartitionMap): Workload<KvStarted> {
  const prng = h.k.prng;
  const read = (key: string): Uint8Array => partitions.find((p) => p.accounts.includes(key))!.read(key) ?? balanceValue(0);
  const made = (kind: KvStarted["kind"], txn: KvTxn, total?: number) => {
    const parts = splitTxn(map, txn);
    return {
      participants: parts.map((p) => participantName(p.partition.id)),
      start: (record: TxnRecord): KvStarted => ({
        record,
        kind,
        parts: new Map(parts.map((p) => [p.partition.id, p.part])),
        payloads: parts.map((p) => encodeTxn(p.part)),
        ...(total === undefined ? {} : { total }),
      }),
    };
  };
  return {
    next: () => {
      if (prng.chance(h.o.auditChance)) {
        const seen = partitions.flatMap((p) => p.accounts.map((key) => [key, read(key)] as const));
        const total = seen.reduce((n, [, value]) => n + (balanceOf(value) ?? 0), 0);
        return made("audit", { compares: seen.map(([key, value]) => valueIs(key, value)), success: [], failure: [] }, total);
      }
      const within = prng.chance(h.o.withinChance);
      const from = prng.pick(partitions);
      const to = within ? from : prng.pick(partitions.filter((p) => p !== from));
      const debit = prng.pick(from.accounts);
      const credit = prng.pick(to.accounts.filter((a) => a !== debit));
      const [a, b] = [read(debit), read(credit)];
      const [na, nb] = [balanceOf(a) ?? 0, balanceOf(b) ?? 0];
      const m = na > 0 ? 1 + prng.int(Math.min(40, na)) : 0;
      return made(within ? "within" : "transfer", { compares: [valueIs(debit, a), valueIs(credit, b)], success: [put(debit, na - m), put(credit, nb + m)], failure: [] });
    },
    done: (_txn, s, r) => {
      h.k.outcome(`${s.kind}:${r.ok ? r.value.outcome : "failed"}`);
      if (!r.ok) return;
      if (s.kind === "audit" && r.value.outcome === "committed") probe("kvtxn.audit.committed");
      for (const { reason } of r.value.refusals) if (reason !== undefined) probe(`kvtxn.refused.${Object.values(REFUSAL).find((why) => reason.startsWith(why)) ?? "other"}`);
    },
  };
}
