/**
 * `worm log read|subscribe`: what slots hold (docs/ARCHITECTURE.md §4.1). `read` shows one slot as it is now,
 * or a range below the tail settled for good (it waits for appends in flight and fills holes that
 * stay empty past the hole timeout), or one stream's entries by their backpointers. `subscribe`
 * prints one JSON line per entry as it arrives, in slot order (fills skipped).
 */
import * as Option from "effect/Option";
import { Argument, Command, Flag } from "effect/cli";
import { keyString } from "../log/core/entry.ts";
import type { SlotRead } from "../log/core/read.ts";
import { checkIndex, connectionFlags } from "./cluster.ts";
import { task, usage } from "./errors.ts";
import { withDefaultShown } from "./flags.ts";
import { follow } from "./log-follow.ts";
import { sequencerFlag, withLog } from "./log-open.ts";
import { markServing } from "./run.ts";
import { jsonValue, printJson, printLine, showValue, table } from "./output.ts";

const LOG_READ_LIMITS = Object.freeze({
  /** Slots one `worm log read --from --to` may cover. */
  rangeSlotsMax: 100_000,
});

export const logNameArg = Argument.String("name").pipe(Argument.withDescription("the log (a space created with 'worm log create')"));
export const json = Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("print JSON"));
const streamFlag = Flag.optional(Flag.String("stream").pipe(Flag.withDescription("only entries carrying this stream tag")));

/** A slot as JSON: kind, and for an entry its key, stream tags (with backpointers) and payload. */
function slotJson(r: SlotRead): Record<string, unknown> {
  if (r.kind !== "entry") return { slot: r.slot, kind: r.kind };
  const e = r.entry;
  return { slot: r.slot, kind: "entry", key: e.key, streams: e.streams.map((s) => s.tag), prev: e.streams.map((s) => s.prev), value: jsonValue(e.payload) };
}

const slotRow = (r: SlotRead): string[] =>
  r.kind === "entry" ? [String(r.slot), "entry", keyString(r.entry.key), r.entry.streams.map((s) => s.tag).join(",") || "-", showValue(r.entry.payload)] : [String(r.slot), r.kind, "", "", ""];

/** A table of slots; a run of fills (or trimmed, or unwritten slots) is one row `first..last`. */
function printSlots(rows: readonly SlotRead[]): void {
  const out: string[][] = [];
  for (let i = 0; i < rows.length; ) {
    const r = rows[i]!;
    let j = i + 1;
    if (r.kind !== "entry") while (j < rows.length && rows[j]!.kind === r.kind && rows[j]!.slot === rows[j - 1]!.slot + 1) j++;
    out.push(j - i > 1 ? [`${r.slot}..${rows[j - 1]!.slot}`, `${r.kind} (${j - i} slots)`, "", "", ""] : slotRow(r));
    i = j;
  }
  printLine(out.length > 0 ? table(["SLOT", "KIND", "KEY", "STREAMS", "PAYLOAD"], out) : "(no slots)");
}

const read = Command.make(
  "read",
  {
    name: logNameArg,
    slot: Argument.optional(Argument.Int("slot").pipe(Argument.withDescription("one slot, as it is now (entry, fill, unwritten or trimmed)"))),
    from: Flag.optional(Flag.Int("from").pipe(Flag.withDescription("first slot of a range (default 0)"))),
    to: Flag.optional(Flag.Int("to").pipe(Flag.withDescription("end of a range, exclusive (default and at most: the tail)"))),
    stream: streamFlag,
    sequencer: sequencerFlag,
    json,
    conn: connectionFlags,
  },
  (c) =>
    task(async () => {
      const one = Option.map(c.slot, (s) => checkIndex(s, "slot"));
      if (Option.isSome(one) && (Option.isSome(c.from) || Option.isSome(c.to) || Option.isSome(c.stream))) throw usage("give a SLOT, or a range with --from/--to (and maybe --stream), not both");
      const from = checkIndex(Option.getOrElse(c.from, () => 0), "--from");
      const toFlag = Option.map(c.to, (t) => checkIndex(t, "--to"));
      await withLog(c.conn, c.name, c.sequencer, { kind: "read" }, async ({ log }) => {
        if (Option.isSome(one)) {
          const r = await log.read(one.value);
          if (c.json) printJson(slotJson(r));
          else printSlots([r]);
          return;
        }
        const tail = await log.tail();
        const to = Math.min(Option.getOrElse(toFlag, () => tail), tail);
        if (Option.isSome(toFlag) && toFlag.value <= from) throw usage(`--to ${toFlag.value} must be above --from ${from}`);
        if (to - from > LOG_READ_LIMITS.rangeSlotsMax) throw usage(`read at most ${LOG_READ_LIMITS.rangeSlotsMax} slots at once (asked for ${to - from})`);
        const rows: SlotRead[] =
          to <= from
            ? []
            : Option.isSome(c.stream)
              ? (await log.readStream(c.stream.value, from, to)).map((e) => ({ kind: "entry", slot: e.slot, entry: e.entry }))
              : await log.readRange(from, to);
        if (c.json) printJson({ from, to, tail, ...(Option.isSome(c.stream) ? { stream: c.stream.value } : {}), slots: rows.map(slotJson) });
        else printSlots(rows);
      });
    }),
).pipe(Command.withDescription("Read one slot as it is now, or a range below the tail settled for good (waits for appends in flight, fills holes); --stream follows one stream"));

const subscribe = Command.make(
  "subscribe",
  {
    name: logNameArg,
    from: Flag.Int("from").pipe(withDefaultShown("first slot", 0)),
    stream: streamFlag,
    count: Flag.optional(Flag.Int("count").pipe(Flag.withDescription("stop after this many entries (default: run until Ctrl-C)"))),
    conn: connectionFlags,
  },
  (c) =>
    task(async (signal) => {
      const from = checkIndex(c.from, "--from");
      const count = Option.map(c.count, (n) => checkIndex(n, "--count"));
      if (Option.isSome(count) && count.value === 0) return;
      await withLog(c.conn, c.name, Option.none(), { kind: "read" }, async ({ log }) => {
        if (Option.isNone(count)) markServing();
        let seen = 0;
        const notice = (line: string) => process.stderr.write(`worm log subscribe: ${line}\n`);
        for await (const r of follow(log, from, Option.getOrUndefined(c.stream), signal, notice)) {
          printJson(slotJson(r));
          if (Option.isSome(count) && ++seen >= count.value) return;
        }
      });
    }),
).pipe(
  Command.withDescription(
    "Print one JSON line per entry from --from on, in slot order, as entries arrive (fills skipped); through a quorum loss it waits and resumes where it was; runs until --count entries or Ctrl-C",
  ),
);

export const logReadCommands = [read, subscribe] as const;
