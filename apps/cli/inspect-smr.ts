/**
 * `worm inspect`'s view of replicated state machines (docs/ARCHITECTURE.md §4.2): for every space of
 * kind smr, the log's trim mark, and each replica's role, leader, applied position and latest
 * checkpoint, asked of the replicas themselves (with the cluster's TLS and token, as they serve with
 * them): the leader serves at the address its log segments name, and its status lists the replica set.
 */
import { LOG_SEGMENT_META } from "../log/core/segments.ts";
import { mapMachine } from "../smr/core/map-machine.ts";
import { SmrClient } from "../smr/node/smr-client.ts";
import type { SmrStatusReport } from "../smr/wire/codec.ts";
import type { AcceptorStatus } from "../../wor/wire/admin.ts";
import { lastSegment } from "../../wor/core/segments.ts";
import type { SpaceMeta } from "../../wor/core/space-meta.ts";
import type { WorClient } from "../../wor/node/client.ts";
import type { ClientSecurity } from "../../wor/node/credentials.ts";
import { drive } from "../../wor/node/driver.ts";
import { printLine, table } from "./output.ts";

export interface SmrView {
  readonly smr: string;
  readonly trimMark: number;
  /** Where the owner of the last segment serves (the leader, or the last one). */
  readonly leader?: string;
  readonly replicas: readonly ({ readonly address: string } & (SmrStatusReport | { readonly error: string }))[];
}

async function statusesOf(smr: string, addresses: readonly string[], security: ClientSecurity): Promise<SmrView["replicas"]> {
  const c = new SmrClient(mapMachine, { ...security, smr, replicas: addresses, attemptTimeoutMs: 1_000 });
  try {
    return await Promise.all(addresses.map((address, i) => c.status(i).then((s) => ({ address, ...s }), (e: Error) => ({ address, error: e.message }))));
  } finally {
    c.close();
  }
}

/** One view per SMR (a space of kind smr). */
export async function inspectSmrs(client: WorClient, security: ClientSecurity, live: readonly AcceptorStatus[], smrs: ReadonlyMap<string, SpaceMeta>): Promise<SmrView[]> {
  const views: SmrView[] = [];
  for (const smr of smrs.keys()) {
    const trimMark = Math.max(0, ...live.flatMap((s) => s.spaces.filter((x) => x.name === smr).map((x) => x.trimMark)));
    const last = await drive(lastSegment(smr, LOG_SEGMENT_META), client);
    const leader = last.ok ? last.value.meta.address : undefined;
    if (leader === undefined) {
      views.push({ smr, trimMark, replicas: [] });
      continue;
    }
    const [first] = await statusesOf(smr, [leader], security);
    const peers = first && !("error" in first) ? first.peers : [leader];
    views.push({ smr, trimMark, leader, replicas: await statusesOf(smr, peers, security) });
  }
  return views;
}

export function printSmrs(views: readonly SmrView[]): void {
  if (views.length === 0) return;
  printLine("");
  printLine(
    table(
      ["SMR", "TRIM", "REPLICA", "ROLE", "LEADER", "APPLIED", "CHECKPOINT", "CATCHING UP"],
      views.flatMap((v) =>
        v.replicas.length === 0
          ? [[v.smr, String(v.trimMark), "-", "", "", "", "", "no leader has claimed a segment yet"]]
          : v.replicas.map((r) =>
              "error" in r
                ? [v.smr, String(v.trimMark), r.address, "", "", "", "", `unreachable: ${r.error}`]
                : [v.smr, String(v.trimMark), r.address, r.role, r.leader ?? "", String(r.applied), String(r.checkpoint ?? "-"), r.catchingUp ? "yes" : ""],
            ),
      ),
    ),
  );
}
