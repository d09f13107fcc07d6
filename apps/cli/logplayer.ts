/**
 * `worm logplayer run|status`: LogPlayer (docs/ARCHITECTURE.md §4.4; apps/logplayer/README.md).
 * `run` plays log `--log` to the shards `--shards` (in routing order, fixed for the player group)
 * until SIGINT/SIGTERM: it claims the next epoch of the group (`--group`, default `<log>-player`),
 * prints `{"event":"playing","epoch":…}`, then a line per subscription start, trim or problem; a
 * newer player fencing it ends it with exit 3. `status` shows each shard's durable applied
 * position, its lag behind the log's tail and its epoch (`--json`).
 */
import * as Option from "effect/Option";
import { Command, Flag } from "effect/cli";
import { LogPlayer } from "../logplayer/node/player.ts";
import { ShardLinks } from "../logplayer/node/shard-link.ts";
import type { ClientSecurity } from "../../wor/node/credentials.ts";
import { DELIVERY_LIMITS } from "../logplayer/core/items.ts";
import { PLAYER_DEFAULTS } from "../logplayer/core/player-core.ts";
import { checkSpaceName, connectionFlags, parsePeers } from "./cluster.ts";
import { CliFailure, EXIT, operational, task, usage } from "./errors.ts";
import { withDefaultShown } from "./flags.ts";
import { json } from "./log-read.ts";
import { sequencerFlag, withLog } from "./log-open.ts";
import { printJson, printLine, table } from "./output.ts";
import { markServing } from "./run.ts";

const LOGPLAYER_CLI_LIMITS = Object.freeze({
  /** A status call's deadline. */
  statusTimeoutMs: 3_000,
});

/** A shard's progress behind the log's tail (`tail`: the next slot), or why it did not answer. */
export type ShardProgress =
  | { readonly address: string; readonly applied: number; readonly lag: number; readonly epoch: number; readonly group?: string; readonly shard?: number; readonly streams: number }
  | { readonly address: string; readonly error: string };

/** Ask every shard where it stands (`worm logplayer status`, `worm inspect`); one that does not answer is said so. */
export async function shardProgress(shards: readonly string[], tail: number, security: ClientSecurity): Promise<ShardProgress[]> {
  const links = new ShardLinks(shards, security);
  return Promise.all(
    shards.map((address, i) =>
      links.status(i, LOGPLAYER_CLI_LIMITS.statusTimeoutMs).then(
        (s): ShardProgress => ({ address, applied: s.applied, lag: Math.max(0, tail - 1 - s.applied), epoch: s.epoch, ...(s.binding ? { group: s.binding.group, shard: s.binding.shard } : {}), streams: s.streams }),
        (e: Error): ShardProgress => ({ address, error: e.message }),
      ),
    ),
  ).finally(() => links.close());
}

const logFlag = Flag.String("log").pipe(Flag.withDescription("the log to play (a space created with 'worm log create')"));
const shardsFlag = Flag.String("shards").pipe(Flag.withDescription("the shards' host:port,... in routing order (fixed for the player group)"));
const groupFlag = Flag.optional(Flag.String("group").pipe(Flag.withDescription("the player group: the space of its epochs (default: <log>-player)")));

function shardList(text: string): string[] {
  const shards = parsePeers(text, "--shards");
  if (shards.length > DELIVERY_LIMITS.shardsMax) throw usage(`--shards names ${shards.length} shards; at most ${DELIVERY_LIMITS.shardsMax}`);
  return shards;
}

const groupOf = (group: Option.Option<string>, log: string): string => checkSpaceName(Option.getOrElse(group, () => `${log}-player`));

const run = Command.make(
  "run",
  {
    log: logFlag,
    shards: shardsFlag,
    group: groupFlag,
    name: Flag.optional(Flag.String("name").pipe(Flag.withDescription("this player's name, written into the epoch it claims (default: random)"))),
    trimEvery: Flag.Int("trim-every").pipe(withDefaultShown<number>("trim the log each time every shard has applied this many more positions", PLAYER_DEFAULTS.trimEvery)),
    sequencer: sequencerFlag,
    conn: connectionFlags,
  },
  (c) =>
    task(async (signal) => {
      if (!Number.isSafeInteger(c.trimEvery) || c.trimEvery < 1) throw usage("--trim-every must be a positive number of positions");
      const shards = shardList(c.shards);
      const group = groupOf(c.group, checkSpaceName(c.log));
      const name = Option.getOrUndefined(c.name);
      if (name !== undefined && (name.length === 0 || name.length > 128 || /\s/.test(name))) throw usage("--name must be 1-128 characters without whitespace");
      const stop = await withLog(c.conn, c.log, c.sequencer, { kind: "read" }, async ({ log, client, target }) => {
        const player = await LogPlayer.start({ client, log, group, shards, security: target.security, tuning: { trimEvery: c.trimEvery }, ...(name ? { player: name } : {}), onEvent: (e) => printJson(e) });
        signal.addEventListener("abort", () => player.stop(), { once: true });
        markServing();
        printJson({ event: "playing", epoch: player.epoch, group, log: c.log, shards });
        return player.done;
      });
      if (!stop) return printJson({ event: "stopped" });
      if (stop.reason === "unauthenticated") throw new CliFailure(stop.message, EXIT.operational);
      if (stop.reason === "fenced") throw new CliFailure(`fenced: shard ${shards[stop.shard]} serves epoch ${stop.epoch} of player group ${group}, a newer player took over`, EXIT.refused);
      throw new CliFailure(`refused: shard ${shards[stop.shard]}: ${stop.message}`, EXIT.usage);
    }),
).pipe(Command.withDescription("Play a log to its shards (exactly once, in order) until SIGINT/SIGTERM, taking over from the group's last player"));

const status = Command.make("status", { log: logFlag, shards: shardsFlag, sequencer: sequencerFlag, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const shards = shardList(c.shards);
    const { tail, security } = await withLog(c.conn, c.log, c.sequencer, { kind: "read" }, async ({ log, target }) => ({ tail: await log.tail(), security: target.security }));
    const rows = await shardProgress(shards, tail, security);
    if (c.json) printJson({ log: c.log, tail, shards: rows });
    else {
      const cell = (r: ShardProgress, f: (s: Exclude<ShardProgress, { error: string }>) => string) => ("error" in r ? "" : f(r));
      printLine(`log ${c.log}: tail ${tail}`);
      printLine(
        table(
          ["shard", "applied", "lag", "epoch", "group", "streams", "error"],
          rows.map((r) => [r.address, cell(r, (s) => String(s.applied)), cell(r, (s) => String(s.lag)), cell(r, (s) => String(s.epoch)), cell(r, (s) => s.group ?? ""), cell(r, (s) => String(s.streams)), "error" in r ? r.error : ""]),
        ),
      );
    }
    const down = rows.filter((r) => "error" in r).length;
    if (down > 0) throw operational(`${down} of ${shards.length} shards did not answer`);
  }),
).pipe(Command.withDescription("Show each shard's durable applied position, its lag behind the log's tail, and its epoch"));

export const logplayerCommand = Command.make("logplayer").pipe(
  Command.withDescription("LogPlayer: play a log to storage shards exactly once and in order; show the shards' progress"),
  Command.withSubcommands([run, status]),
);
