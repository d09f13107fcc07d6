/**
 * What the `worm kv` verbs share: the KV's name, a client on its newest map (read from the
 * register layer with the cluster file), and how a KV failure becomes the CLI's one line and exit
 * code: bad input 2, a compare that failed 3, a write whose outcome is unknown 4, the rest 1.
 */
import { Flag } from "effect/cli";
import { WorError } from "../../wor/node/wor-error.ts";
import type { KvFailure } from "../kv/core/messages.ts";
import type { PartitionMap } from "../kv/core/partitions.ts";
import { KvClient, type KvResult } from "../kv/node/kv-client.ts";
import { readMap } from "../kv/node/kv-map.ts";
import { type ConnectionInput, checkSpaceName, resolveTarget, withClient } from "./cluster.ts";
import { CliFailure, EXIT, usage } from "./errors.ts";
import { withDefaultShown } from "./flags.ts";

export const kvNameFlag = Flag.String("kv").pipe(withDefaultShown("the KV's name", "kv"));

/** The newest map of KV `name`, in the CLI's words when there is none. */
export async function mapOf(conn: ConnectionInput, name: string): Promise<{ readonly map: PartitionMap; readonly target: Awaited<ReturnType<typeof resolveTarget>> }> {
  const kv = checkSpaceName(name);
  const target = await resolveTarget(conn);
  const map = await withClient(target, (client) =>
    readMap(client, kv).catch((e: unknown) => {
      if (e instanceof WorError && e.code === "unknownSpace") throw usage(`no KV named ${kv}; create it with 'worm kv create --kv ${kv} --nodes HOST:PORT,...'`);
      throw e;
    }),
  );
  return { map, target };
}

/** Run `f` with a client of KV `name` (its nodes reached with the cluster's TLS and token). */
export async function withKv<T>(conn: ConnectionInput, name: string, f: (c: KvClient, map: PartitionMap) => Promise<T>): Promise<T> {
  const { map, target } = await mapOf(conn, name);
  const refreshMap = () => withClient(target, (c) => readMap(c, checkSpaceName(name)));
  const client = new KvClient({ ...target.security, map, refreshMap, attemptTimeoutMs: target.timeoutMs, retryForMs: target.timeoutMs });
  try {
    return await f(client, map);
  } finally {
    client.close();
  }
}

/** The value of a KV result, or its failure as the CLI's (`write`: an unknown outcome exits 4). */
export function resultOf<T>(r: KvResult<T>, write: boolean): T {
  if (r.ok) return r.value;
  throw asCliFailure(r.failure, write);
}

function asCliFailure(f: KvFailure, write: boolean): CliFailure {
  switch (f.code) {
    case "invalid":
    case "tooLarge":
    case "wrongPartition":
      return new CliFailure(f.message, EXIT.usage);
    case "timeout":
    case "unavailable":
      return new CliFailure(write ? `${f.message} (the write's outcome is unknown: read the key, or run it again)` : f.message, write ? EXIT.unknown : EXIT.operational);
    case "internal":
    case "aborted":
      return new CliFailure(f.message, EXIT.operational);
  }
}
