/**
 * `worm inspect`'s view of transaction spaces (docs/ARCHITECTURE.md §4.3): for every space of kind
 * txn, its transactions (those of the last claimed blocks) counted by outcome, and the ones in doubt
 * with the participants that wait on them. Read through the coordinator library (reads only).
 */
import type { SpaceMeta } from "../../wor/core/space-meta.ts";
import type { WorClient } from "../../wor/node/client.ts";
import { TxnCoordinator } from "../txn/node/coordinator.ts";
import { printLine, table } from "./output.ts";

/** Claimed blocks read per transaction space (the last ones). */
const INSPECT_TXN_BLOCKS_MAX = 4;
/** In-doubt transactions named per space (the oldest). */
const INSPECT_TXN_DOUBTS_MAX = 8;

export interface TxnSpaceView {
  readonly space: string;
  readonly transactions: number;
  readonly committed: number;
  readonly aborted: number;
  /** Per transaction in doubt (at most INSPECT_TXN_DOUBTS_MAX): its number and who holds a YES. */
  readonly inDoubt: readonly { readonly txn: number; readonly waiting: readonly string[] }[];
  readonly inDoubtCount: number;
}

export type TxnRow = { readonly space: string; readonly ok: true; readonly view: TxnSpaceView } | { readonly space: string; readonly ok: false; readonly error: string };

export async function inspectTxns(client: WorClient, spaces: ReadonlyMap<string, SpaceMeta>): Promise<TxnRow[]> {
  const rows: TxnRow[] = [];
  for (const space of spaces.keys()) {
    try {
      const all = await new TxnCoordinator({ client, space, owner: "worm-inspect" }).list(INSPECT_TXN_BLOCKS_MAX);
      const doubts = all.filter((s) => s.outcome === undefined);
      rows.push({
        space,
        ok: true,
        view: {
          space,
          transactions: all.length,
          committed: all.filter((s) => s.outcome === "committed").length,
          aborted: all.filter((s) => s.outcome === "aborted").length,
          inDoubt: doubts.slice(0, INSPECT_TXN_DOUBTS_MAX).map((s) => ({ txn: s.txn, waiting: s.inDoubt })),
          inDoubtCount: doubts.length,
        },
      });
    } catch (e) {
      rows.push({ space, ok: false, error: (e as Error).message });
    }
  }
  return rows;
}

export function printTxns(rows: readonly TxnRow[]): void {
  if (rows.length === 0) return;
  printLine("");
  printLine(
    table(
      ["TRANSACTIONS", "COUNT", "COMMITTED", "ABORTED", "IN DOUBT", "WAITING"],
      rows.map((r) => {
        if (!r.ok) return [r.space, "", "", "", "", `not readable as transactions: ${r.error}`];
        const v = r.view;
        const waiting = v.inDoubt.map((d) => `${d.txn}: ${d.waiting.join(",") || "-"}`).join("; ") + (v.inDoubtCount > v.inDoubt.length ? "; ..." : "");
        return [v.space, String(v.transactions), String(v.committed), String(v.aborted), String(v.inDoubtCount), waiting || "-"];
      }),
    ),
  );
  printLine(`(the transactions of the last ${INSPECT_TXN_BLOCKS_MAX} claimed blocks; WAITING: transactions in doubt and the participants holding a YES in them; 'worm txn resolve SPACE ID' decides one)`);
}
