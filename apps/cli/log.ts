/**
 * `worm log create|append|read|tail|subscribe|trim|sequencer`: the shared log (docs/ARCHITECTURE.md §4.1) from
 * the command line. A log is a space; slot n is address n. Appends get their tokens from a remote
 * sequencer (`--sequencer`, else the cluster file's `sequencers`, as `worm dev` writes them) or, on
 * request (`--embedded-sequencer`), from a sequencer embedded in the command (single-writer mode).
 * A payload over the slot limit is refused before anything is sent.
 */
import * as Option from "effect/Option";
import { Command, Flag } from "effect/cli";
import { LIMITS } from "../../paxos/limits.ts";
import { ENTRY_LIMITS, type IdempotencyKey, entryProblem, entryTooLarge } from "../log/core/entry.ts";
import { checkIndex, checkSpaceName, connectionFlags, resolveTarget, withClient } from "./cluster.ts";
import { task, usage } from "./errors.ts";
import { readBounded } from "./input.ts";
import { sequencerFlag, withLog } from "./log-open.ts";
import { groupFlag, placement, reportCreate, stripeFlag } from "./space.ts";
import { json, logNameArg, logReadCommands } from "./log-read.ts";
import { logSequencerCommand } from "./log-sequencer.ts";
import { printJson, printLine } from "./output.ts";

const create = Command.make("create", { name: logNameArg, group: groupFlag, stripe: stripeFlag, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const log = checkSpaceName(c.name);
    const target = await resolveTarget(c.conn);
    const placed = placement(target, c.group, c.stripe);
    const r = await withClient(target, (client) => client.createSpace(log, { kind: "log", segmentSize: target.segmentSize, ...placed }));
    reportCreate("log", log, "log", target, r, c.json, Option.isSome(c.group) || Option.isSome(c.stripe) ? placed : undefined);
  }),
).pipe(
  Command.withDescription(
    "Create a log (its space; --segment-size sets its segment size, --group the acceptor group it lives in, --stripe the groups its segments are striped over); creating an existing log is a no-op",
  ),
);

/** `client:seq` → an idempotency key (the client part may itself hold colons). */
function parseKey(text: string): IdempotencyKey {
  const at = text.lastIndexOf(":");
  const seq = at < 0 ? Number.NaN : Number(text.slice(at + 1));
  if (at <= 0 || !/^\d+$/.test(text.slice(at + 1)) || !Number.isSafeInteger(seq)) throw usage(`--key must be CLIENT:SEQ with SEQ a non-negative integer (got ${JSON.stringify(text)})`);
  return { client: text.slice(0, at), seq };
}

/** The payloads to append: --data, --data-file (one entry each) or stdin (one entry per line). */
async function payloads(data: string | undefined, dataFile: string | undefined): Promise<Uint8Array[]> {
  if (data !== undefined && dataFile !== undefined) throw usage("give --data or --data-file, not both");
  if (data !== undefined) return [new TextEncoder().encode(data)];
  if (dataFile !== undefined) return [await readBounded(dataFile, LIMITS.valueBytesMax, "--data-file", `a log entry holds at most ${LIMITS.valueBytesMax} bytes (payload, key and stream tags)`)];
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
    embeddedSequencer: Flag.Boolean("embedded-sequencer").pipe(
      Flag.withDefault(false),
      Flag.withDescription("append through a sequencer embedded in this command (single-writer mode: it fences every other sequencer of the log while it runs; its first append starts a new segment)"),
    ),
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
      // Refused before the cluster is contacted (a generated key is at most this long).
      const worstKey = Option.getOrElse(key, () => ({ client: "x".repeat(ENTRY_LIMITS.nameBytesMax), seq: Number.MAX_SAFE_INTEGER }));
      for (const payload of entries) {
        const tooLarge = entryTooLarge({ key: worstKey, streams }, payload);
        if (tooLarge) throw usage(tooLarge);
      }
      await withLog(c.conn, c.name, c.sequencer, { kind: "append", embedded: c.embeddedSequencer }, async ({ log }) => {
        for (const [k, payload] of entries.entries()) {
          const a = await log.append(payload, { streams, ...(Option.isSome(key) ? { key: { client: key.value.client, seq: key.value.seq + k } } : {}) });
          if (c.json) printJson({ slot: a.slot, duplicate: a.duplicate });
          else printLine(a.duplicate ? `${a.slot} (already appended with this key)` : String(a.slot));
        }
      });
    }),
).pipe(
  Command.withDescription(
    "Append entries (--data, --data-file, or one per stdin line, in order) and print each one's slot. Tokens come from --sequencer, else from the cluster file's sequencers " +
      "('worm dev' runs one), else, with --embedded-sequencer, from a sequencer embedded in the command (single-writer mode)",
  ),
);

const tail = Command.make("tail", { name: logNameArg, sequencer: sequencerFlag, json, conn: connectionFlags }, (c) =>
  task(async () => {
    await withLog(c.conn, c.name, c.sequencer, { kind: "read" }, async ({ log, tokens }) => {
      const t = await log.tail();
      if (c.json) printJson({ log: log.name, tail: t, source: tokens });
      else printLine(String(t));
    });
  }),
).pipe(
  Command.withDescription("Print the next slot to be issued (from --sequencer, else the cluster file's sequencers) or, without one, one past the highest chosen slot (by scanning)"),
);

const trim = Command.make("trim", { name: logNameArg, below: Flag.Int("below").pipe(Flag.withDescription("trim every slot below this one")), json, conn: connectionFlags }, (c) =>
  task(async () => {
    const below = checkIndex(c.below, "--below");
    await withLog(c.conn, c.name, Option.none(), { kind: "read" }, async ({ log }) => {
      const mark = await log.trim(below);
      if (c.json) printJson({ log: log.name, mark });
      else printLine(`${log.name} trimmed below ${mark}`);
    });
  }),
).pipe(Command.withDescription("Trim the log below --below (monotone, durable): reads there answer trimmed from now on"));

export const logCommand = Command.make("log").pipe(Command.withSubcommands([create, append, ...logReadCommands, tail, trim, logSequencerCommand]));
