/**
 * `worm kv watch [FROM [TO]] [--prefix P] [--from-revision R]`: the changes of a range of keys, as
 * the nodes apply them, one line each (`--json`: one JSON object per line), until Ctrl-C. Each
 * change names its partition and revision (revisions are per partition). A partition whose node
 * goes away is waited for, and the watch goes on at the node it moved to, or at its node restarted
 * (saying both on stderr); if it ends, it says from which revision of each partition to watch again
 * (`--from-revision`, within one partition).
 */
import * as Option from "effect/Option";
import { Argument, Command, Flag } from "effect/cli";
import { type KeyRange, prefixRange } from "../kv/core/keys.ts";
import { partitionsOf } from "../kv/core/partitions.ts";
import { KvWatchError, type Watched } from "../kv/node/kv-watch.ts";
import { connectionFlags } from "./cluster.ts";
import { CliFailure, EXIT, task, usage } from "./errors.ts";
import { kvNameFlag, withKv } from "./kv-flags.ts";
import { recordJson } from "./kv.ts";
import { json } from "./log-read.ts";
import { printJson, printLine } from "./output.ts";

const text = new TextDecoder();
const notice = (line: string) => process.stderr.write(`worm kv watch: ${line}\n`);

export const kvWatchCommand = Command.make(
  "watch",
  {
    from: Argument.optional(Argument.String("from").pipe(Argument.withDescription("the first key (default: the start of the key space)"))),
    to: Argument.optional(Argument.String("to").pipe(Argument.withDescription("the key after the last (default: the end of the key space)"))),
    prefix: Flag.optional(Flag.String("prefix").pipe(Flag.withDescription("every key that starts with this (instead of FROM and TO)"))),
    fromRevision: Flag.optional(Flag.Int("from-revision").pipe(Flag.withDescription("start at this revision of the range's partition (the range must be within one partition; default: from now)"))),
    kv: kvNameFlag,
    json,
    conn: connectionFlags,
  },
  (c) =>
    task(async (signal) => {
      if (Option.isSome(c.prefix) && (Option.isSome(c.from) || Option.isSome(c.to))) throw usage("give --prefix or FROM [TO], not both");
      const to = Option.getOrUndefined(c.to);
      const range: KeyRange = Option.isSome(c.prefix) ? prefixRange(c.prefix.value) : { from: Option.getOrElse(c.from, () => ""), ...(to !== undefined ? { to } : {}) };
      const revision = Option.getOrUndefined(c.fromRevision);
      if (revision !== undefined && (!Number.isSafeInteger(revision) || revision < 1)) throw usage("--from-revision must be a revision, 1 or more");
      await withKv(c.conn, c.kv, async (kv, map) => {
        const parts = partitionsOf(map, range);
        if (revision !== undefined && parts.length > 1) {
          throw usage(`--from-revision needs a range within one partition (revisions are per partition); this one spans partitions ${parts.map((p) => p.id).join(", ")}`);
        }
        let it: AsyncIterableIterator<Watched>;
        try {
          it = kv.watch(range, {
            ...(revision !== undefined ? { from: new Map([[parts[0]!.id, revision]]) } : {}),
            // Until Ctrl-C: a partition without a node is waited for, saying so.
            follow: {
              retryForMs: Number.POSITIVE_INFINITY,
              onLost: (r) => notice(`partition ${r.partition}'s node at ${r.node} went away (${r.why}); waiting for a node to serve it`),
              onResumed: (r) => notice(`partition ${r.partition}'s watch goes on at node ${r.node} ${r.fromRevision === 0 ? "from now" : `from revision ${r.fromRevision}`}`),
            },
          });
        } catch (e) {
          if (e instanceof KvWatchError) throw usage(e.message);
          throw e;
        }
        signal.addEventListener("abort", () => void it.return?.(), { once: true });
        /** Each partition's last revision printed (to say where to watch again from). */
        const seen = new Map<number, number>();
        try {
          for await (const b of it) {
            seen.set(b.partition, b.revision);
            for (const e of b.events) {
              if (c.json) printJson({ partition: b.partition, revision: e.revision, type: e.record ? "put" : "delete", ...(e.record ? recordJson(e.key, e.record) : { key: e.key }) });
              else printLine(e.record ? `put ${e.key} = ${text.decode(e.record.value)} (partition ${b.partition}, revision ${e.revision})` : `delete ${e.key} (partition ${b.partition}, revision ${e.revision})`);
            }
          }
        } catch (e) {
          if (!(e instanceof KvWatchError)) throw e;
          const resume = [...seen].map(([p, r]) => `partition ${p} from revision ${r + 1}`).join(", ");
          throw new CliFailure(`the watch ended: ${e.message}${resume && e.code !== "invalid" ? ` (to go on, watch ${resume}: --from-revision)` : ""}`, e.code === "invalid" || e.code === "wrongPartition" || e.code === "compacted" ? EXIT.usage : EXIT.operational);
        }
      });
    }),
).pipe(Command.withDescription("Print the changes of a range (or --prefix) of keys as they are applied, until Ctrl-C; --from-revision replays a partition's kept changes first"));
