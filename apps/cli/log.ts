/**
 * `worm log create|append|read|tail|subscribe|trim|sequencer`: the shared log (DESIGN.md §4.1) from
 * the command line. A log is a space; slot n is address n. Appends get their tokens from a remote
 * sequencer (`--sequencer`) or, without one, from a sequencer embedded in the command
 * (single-writer mode).
 */
import { readFile } from "node:fs/promises";
import { Option } from "effect";
import { Command, Flag } from "effect/cli";
import { type IdempotencyKey, entryProblem } from "../log/core/entry.ts";
import { checkIndex, checkSpaceName, connectionFlags, resolveTarget, withClient } from "./cluster.ts";
import { task, usage } from "./errors.ts";
import { sequencerFlag, withLog } from "./log-open.ts";
import { reportCreate } from "./space.ts";
import { json, logNameArg, logReadCommands } from "./log-read.ts";
import { logSequencerCommand } from "./log-sequencer.ts";
import { printJson, printLine } from "./output.ts";

const create = Command.make("create", { name: logNameArg, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const log = checkSpaceName(c.name);
    const target = await resolveTarget(c.conn);
    const r = await withClient(target, (client) => client.createSpace(log, { kind: "log", segmentSize: target.segmentSize }));
    reportCreate("log", log, "log", target, r, c.json);
  }),
).pipe(Command.withDescription("Create a log (its space; --segment-size sets its segment size); creating an existing log is a no-op"));

/** `client:seq` → an idempotency key (the client part may itself hold colons). */
export function parseKey(text: string): IdempotencyKey {
  const at = text.lastIndexOf(":");
  const seq = at < 0 ? Number.NaN : Number(text.slice(at + 1));
  if (at <= 0 || !/^\d+$/.test(text.slice(at + 1)) || !Number.isSafeInteger(seq)) throw usage(`--key must be CLIENT:SEQ with SEQ a non-negative integer (got ${JSON.stringify(text)})`);
  return { client: text.slice(0, at), seq };
}

/** The payloads to append: --data, --data-file (one entry each) or stdin (one entry per line). */
async function payloads(data: string | undefined, dataFile: string | undefined): Promise<Uint8Array[]> {
  if (data !== undefined && dataFile !== undefined) throw usage("give --data or --data-file, not both");
  if (data !== undefined) return [new TextEncoder().encode(data)];
  if (dataFile !== undefined) {
    try {
      return [new Uint8Array(await readFile(dataFile))];
    } catch (e) {
      throw usage(`--data-file: cannot read ${dataFile}: ${(e as Error).message}`);
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const lines = Buffer.concat(chunks).toString("utf8").split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.map((l) => new TextEncoder().encode(l.endsWith("\r") ? l.slice(0, -1) : l));
}

const append = Command.make(
  "append",
  {
    name: logNameArg,
    sequencer: sequencerFlag,
    stream: Flag.String("stream").pipe(Flag.atLeast(0), Flag.withDescription("a stream tag for the entry (repeatable)")),
    key: Flag.optional(Flag.String("key").pipe(Flag.withDescription("idempotency key CLIENT:SEQ: a retry with the same key is never stored twice (stdin lines get SEQ, SEQ+1, ...)"))),
    data: Flag.optional(Flag.String("data").pipe(Flag.withDescription("the payload as UTF-8 text"))),
    dataFile: Flag.optional(Flag.String("data-file").pipe(Flag.withDescription("the payload: this file's bytes"))),
    json,
    conn: connectionFlags,
  },
  (c) =>
    task(async () => {
      const key = Option.map(c.key, parseKey);
      const streams = [...c.stream];
      const problem = entryProblem({ key: Option.getOrElse(key, () => ({ client: "cli", seq: 0 })), streams });
      if (problem) throw usage(problem);
      const entries = await payloads(Option.getOrUndefined(c.data), Option.getOrUndefined(c.dataFile));
      if (entries.length === 0) throw usage("nothing to append: give --data TEXT, --data-file FILE, or lines on stdin");
      await withLog(c.conn, c.name, c.sequencer, "remote-or-embedded", async ({ log }) => {
        for (const [k, payload] of entries.entries()) {
          const a = await log.append(payload, { streams, ...(Option.isSome(key) ? { key: { client: key.value.client, seq: key.value.seq + k } } : {}) });
          if (c.json) printJson({ slot: a.slot, duplicate: a.duplicate });
          else printLine(a.duplicate ? `${a.slot} (already appended with this key)` : String(a.slot));
        }
      });
    }),
).pipe(
  Command.withDescription(
    "Append entries (--data, --data-file, or one per stdin line, in order) and print each one's slot. Without --sequencer the command embeds its own sequencer " +
      "(single-writer mode: it fences any other sequencer of the log while it runs, and its first append starts a new segment); with several appenders, run 'worm log sequencer'",
  ),
);

const tail = Command.make("tail", { name: logNameArg, sequencer: sequencerFlag, json, conn: connectionFlags }, (c) =>
  task(async () => {
    await withLog(c.conn, c.name, c.sequencer, "remote-or-scan", async ({ log, tokens }) => {
      const t = await log.tail();
      if (c.json) printJson({ log: log.name, tail: t, source: tokens });
      else printLine(String(t));
    });
  }),
).pipe(Command.withDescription("Print the next slot to be issued (from --sequencer) or, without one, one past the highest chosen slot (by scanning)"));

const trim = Command.make("trim", { name: logNameArg, below: Flag.Int("below").pipe(Flag.withDescription("trim every slot below this one")), json, conn: connectionFlags }, (c) =>
  task(async () => {
    const below = checkIndex(c.below, "--below");
    await withLog(c.conn, c.name, Option.none(), "remote-or-scan", async ({ log }) => {
      const mark = await log.trim(below);
      if (c.json) printJson({ log: log.name, mark });
      else printLine(`${log.name} trimmed below ${mark}`);
    });
  }),
).pipe(Command.withDescription("Trim the log below --below (monotone, durable): reads there answer trimmed from now on"));

export const logCommand = Command.make("log").pipe(
  Command.withDescription("The shared log: create, append, read, tail, subscribe, trim, and run a sequencer"),
  Command.withSubcommands([create, append, ...logReadCommands, tail, trim, logSequencerCommand]),
);
