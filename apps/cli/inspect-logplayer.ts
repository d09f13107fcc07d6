/**
 * `worm inspect`'s view of LogPlayer groups (docs/ARCHITECTURE.md §4.4): for every space of kind
 * logplayer, its current epoch and the player holding it, the log it plays and that log's tail
 * (apps/logplayer/core/epoch.ts: the epoch's claim names them), and each shard it names, asked
 * directly (with the cluster's TLS and token): applied position, lag behind the tail, the epoch the
 * shard serves. A shard that does not answer is shown unreachable; it does not fail the inspect.
 */
import { WormLog } from "../log/node/log-client.ts";
import { currentEpoch } from "../logplayer/core/epoch.ts";
import type { SpaceMeta } from "../../wor/core/space-meta.ts";
import type { WorClient } from "../../wor/node/client.ts";
import type { ClientSecurity } from "../../wor/node/credentials.ts";
import { drive } from "../../wor/node/driver.ts";
import { type ShardProgress, shardProgress } from "./logplayer.ts";
import { printLine, table } from "./output.ts";

export interface PlayerGroupView {
  readonly group: string;
  /** 0: no player has claimed an epoch yet. */
  readonly epoch: number;
  readonly player?: string;
  readonly log?: string;
  /** The log's next slot; absent when it could not be read. */
  readonly tail?: number;
  readonly shards: readonly ShardProgress[];
  /** Why the epoch or the tail could not be read. */
  readonly error?: string;
}

/** One view per player group (a space of kind logplayer). */
export async function inspectPlayers(client: WorClient, security: ClientSecurity, groups: ReadonlyMap<string, SpaceMeta>): Promise<PlayerGroupView[]> {
  const views: PlayerGroupView[] = [];
  for (const group of groups.keys()) {
    const claim = await drive(currentEpoch(group), client);
    if (!claim.ok) {
      views.push({ group, epoch: 0, shards: [], error: claim.failure.message });
      continue;
    }
    const { epoch, meta } = claim.value;
    const base = { group, epoch, ...(meta.owner !== undefined ? { player: meta.owner } : {}), ...(meta.log !== undefined ? { log: meta.log } : {}) };
    if (meta.log === undefined || meta.shards === undefined) {
      views.push({ ...base, shards: [] });
      continue;
    }
    try {
      const tail = await new WormLog({ client, log: meta.log }).tail();
      views.push({ ...base, tail, shards: await shardProgress(meta.shards, tail, security) });
    } catch (e) {
      views.push({ ...base, shards: [], error: `the tail of log ${meta.log}: ${(e as Error).message}` });
    }
  }
  return views;
}

export function printPlayers(views: readonly PlayerGroupView[]): void {
  if (views.length === 0) return;
  printLine("");
  printLine(
    table(
      ["PLAYER GROUP", "EPOCH", "LOG", "TAIL", "SHARD", "APPLIED", "LAG", "SHARD EPOCH", "STATE"],
      views.flatMap((v) => {
        const head = [v.group, String(v.epoch), v.log ?? "-", v.tail === undefined ? "-" : String(v.tail)];
        if (v.error !== undefined) return [[...head, "", "", "", "", `not readable: ${v.error}`]];
        if (v.shards.length === 0) return [[...head, "-", "", "", "", "no player has claimed an epoch yet"]];
        return v.shards.map((s) => ("error" in s ? [...head, s.address, "", "", "", `unreachable: ${s.error}`] : [...head, s.address, String(s.applied), String(s.lag), String(s.epoch), "up"]));
      }),
    ),
  );
}
