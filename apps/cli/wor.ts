/**
 * `worm wor capture|write|unsafe-write|read|trim|alloc|check`: the register verbs (docs/ARCHITECTURE.md §3.1).
 *
 * A capture lives only as long as the command: `write` captures and writes in one command. Its
 * outcomes are reported as they are: written, already written (with the value that won), not written
 * (preempted before writing, trimmed) and outcome unknown (preempted after the value was sent: a
 * later capture may still choose it; settle it with `read --recover`). A capture preempted by a
 * higher ballot is retried above it by the library itself (wor/README.md, "Retries").
 */
import * as Option from "effect/Option";
import { Argument, Command, Flag } from "effect/cli";
import { bytesEqual } from "../../verify/runtime/bytes.ts";
import { isOwnerBallot } from "../../paxos/ballot.ts";
import { LIMITS } from "../../paxos/limits.ts";
import type { ReadResult } from "../../wor/core/results.ts";
import { checkAddress, checkRange } from "../../wor/core/validate.ts";
import { checkIndex, checkSpaceName, connectionFlags, openTyped, resolveTarget, withClient } from "./cluster.ts";
import { CliFailure, EXIT, task, usage } from "./errors.ts";
import { valueBytes } from "./input.ts";
import { jsonValue, printJson, printLine, showBallot, showValue, table } from "./output.ts";

const json = Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("print one JSON document"));
const valueFlags = {
  value: Flag.optional(Flag.String("value").pipe(Flag.withDescription("the value as UTF-8 text ('-': standard input, its bytes as they are)"))),
  hex: Flag.optional(Flag.String("hex").pipe(Flag.withDescription("the value as hex bytes"))),
  valueFile: Flag.optional(Flag.String("value-file").pipe(Flag.withDescription("the value: this file's bytes ('-': standard input)"))),
};
const spaceArg = Argument.String("space").pipe(Argument.withDescription("a space created with 'worm space create'"));
const addressArg = Argument.Int("address").pipe(Argument.withDescription("the register's index in the space"));
const segmentArg = Argument.Int("segment").pipe(Argument.withDescription("the segment number (address / segment size)"));

/** A protocol outcome that is not success: reported, then the exit code says what happened. */
const refused = (message: string) => new CliFailure(message, EXIT.refused);
const unknownOutcome = (message: string) => new CliFailure(message, EXIT.unknown);

const givenBytes = (v: { value: Option.Option<string>; hex: Option.Option<string>; valueFile: Option.Option<string> }) =>
  valueBytes({ value: Option.getOrUndefined(v.value), hex: Option.getOrUndefined(v.hex), valueFile: Option.getOrUndefined(v.valueFile) }, LIMITS.valueBytesMax);

const capture = Command.make(
  "capture",
  { space: spaceArg, address: addressArg, to: Flag.optional(Flag.Int("to").pipe(Flag.withDescription("capture [address, to) in one phase 1"))), json, conn: connectionFlags },
  (c) =>
    task(async () => {
      const space = checkSpaceName(c.space);
      const { from, to } = addressRange(c.address, c.to);
      const target = await resolveTarget(c.conn);
      const r = await withClient(target, async (client) => {
        await openTyped(client, target, space, "registers");
        return client.captureRange(space, from, to);
      });
      if (c.json) {
        if (r._tag === "Captured") {
          const written = [...r.written].map(([address, v]) => ({ address, value: jsonValue(v) }));
          printJson({ space, from, to, result: "Captured", ballot: r.capture.ballot, written });
        } else printJson({ space, from, to, result: r._tag, ...(r._tag === "Preempted" ? { by: r.by } : { mark: r.mark }) });
      }
      if (r._tag === "Preempted") throw refused(`capture of ${space}[${from}, ${to}) preempted by ballot ${showBallot(r.by)}`);
      if (r._tag === "Trimmed") throw refused(`${space} is trimmed below ${r.mark}`);
      if (c.json) return;
      printLine(`captured ${space}[${from}, ${to}) at ballot ${showBallot(r.capture.ballot)} (released when this command exits; a higher capture steals it)`);
      for (const [a, v] of r.written) printLine(`  ${space}[${a}] already holds ${showValue(v)} (finished under this ballot)`);
    }),
).pipe(Command.withDescription("Run phase 1 (capture) on an address or a range and report what it found"));

const write = Command.make("write", { space: spaceArg, address: addressArg, ...valueFlags, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const space = checkSpaceName(c.space);
    const index = address(c.address);
    const value = await givenBytes(c);
    const target = await resolveTarget(c.conn);
    const at = `${space}[${index}]`;
    const report = (doc: Record<string, unknown>) => {
      if (c.json) printJson({ space, address: index, ...doc });
    };
    await withClient(target, async (client) => {
      await openTyped(client, target, space, "registers");
      const cap = await client.capture(space, index);
      if (cap._tag === "Written") {
        const same = bytesEqual(cap.value, value);
        report({ result: "AlreadyWritten", same, value: jsonValue(cap.value) });
        if (!same) throw refused(`not written: ${at} already holds ${showValue(cap.value)}`);
        if (!c.json) printLine(`already written: ${at} = ${showValue(cap.value)} (the same value)`);
        return;
      }
      if (cap._tag === "Preempted") {
        report({ result: "Preempted", phase: "capture", by: cap.by });
        throw refused(`not written: the capture of ${at} was preempted by ballot ${showBallot(cap.by)}; try again`);
      }
      if (cap._tag === "Trimmed") {
        report({ result: "Trimmed", mark: cap.mark });
        throw refused(`not written: ${at} is below the trim mark ${cap.mark}`);
      }
      const w = await client.write(cap.capture, index, value);
      switch (w._tag) {
        case "Ok":
          report({ result: "Ok", ballot: cap.capture.ballot, value: jsonValue(value) });
          if (!c.json) printLine(`written: ${at} = ${showValue(value)} (ballot ${showBallot(cap.capture.ballot)})`);
          return;
        case "AlreadyWritten": {
          const same = bytesEqual(w.value, value);
          report({ result: "AlreadyWritten", same, value: jsonValue(w.value) });
          if (!same) throw refused(`not written: ${at} already holds ${showValue(w.value)}`);
          if (!c.json) printLine(`already written: ${at} = ${showValue(w.value)} (the same value: this write landed)`);
          return;
        }
        case "Preempted":
          report({ result: "Preempted", phase: "write", by: w.by, outcome: "unknown" });
          throw unknownOutcome(
            `outcome unknown: ${at} was preempted by ballot ${showBallot(w.by)} after the value was sent; a later capture may still choose it. Settle it with 'worm wor read ${space} ${index} --recover'`,
          );
        case "Trimmed":
          report({ result: "Trimmed" });
          throw refused(`not written: ${at} was trimmed`);
      }
    });
  }),
).pipe(Command.withDescription("Capture an address and write a value to it (write-once: the first chosen value wins)"));

const unsafeWrite = Command.make("unsafe-write", { space: spaceArg, address: addressArg, ...valueFlags, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const space = checkSpaceName(c.space);
    const index = address(c.address);
    const value = await givenBytes(c);
    const target = await resolveTarget(c.conn);
    const at = `${space}[${index}]`;
    const w = await withClient(target, async (client) => {
      await openTyped(client, target, space, "registers");
      return client.unsafeWrite(space, index, value);
    });
    if (c.json) printJson({ space, address: index, result: w._tag, ...(w._tag === "AlreadyWritten" ? { same: bytesEqual(w.value, value), value: jsonValue(w.value) } : {}), ...(w._tag === "Preempted" ? { by: w.by, outcome: "unknown" } : {}) });
    switch (w._tag) {
      case "Ok":
        if (!c.json) printLine(`written at the owner ballot: ${at} = ${showValue(value)}`);
        return;
      case "AlreadyWritten":
        if (!bytesEqual(w.value, value)) throw refused(`not written: ${at} already holds ${showValue(w.value)}`);
        if (!c.json) printLine(`already written: ${at} = ${showValue(w.value)} (the same value)`);
        return;
      case "Preempted":
        // The owner ballot lands only where nothing was written or promised: say which it met.
        throw refused(
          isOwnerBallot(w.by)
            ? `not written: ${at} already holds another value written at the owner ballot (see it with 'worm wor read ${space} ${index}')`
            : `not written: ${at} is captured by someone else (ballot ${showBallot(w.by)}): an owner-ballot write lands only where nobody captured or wrote`,
        );
      case "Trimmed":
        throw refused(`not written: ${at} was trimmed`);
    }
  }),
).pipe(
  Command.withDescription(
    "Write at the reserved owner ballot, skipping capture. ONLY for the address's single owner: two owners writing different values can break write-once",
  ),
);

const read = Command.make(
  "read",
  {
    space: spaceArg,
    address: addressArg,
    to: Flag.optional(Flag.Int("to").pipe(Flag.withDescription("read [address, to)"))),
    recover: Flag.Boolean("recover").pipe(Flag.withDefault(false), Flag.withDescription("settle pending addresses: capture and finish the highest accepted value")),
    json,
    conn: connectionFlags,
  },
  (c) =>
    task(async () => {
      const space = checkSpaceName(c.space);
      const { from, to } = addressRange(c.address, c.to);
      const target = await resolveTarget(c.conn);
      const results = await withClient(target, (client) => client.readRange(space, from, to, { recover: c.recover }));
      const rows = [...results].sort(([a], [b]) => a - b);
      if (c.json) {
        printJson({ space, from, to, results: rows.map(([address, r]) => ({ address, result: r._tag, ...(r._tag === "Written" ? { value: jsonValue(r.value) } : {}) })) });
        return;
      }
      printLine(table(["ADDRESS", "STATE", "VALUE"], rows.map(([a, r]) => [String(a), stateWord(r), r._tag === "Written" ? showValue(r.value) : ""])));
      if (rows.some(([, r]) => r._tag === "Pending")) printLine(`(pending: some acceptor holds a value that is not chosen yet; add --recover to settle it)`);
    }),
).pipe(Command.withDescription("Read registers: written (chosen), unwritten, pending or trimmed"));

function stateWord(r: ReadResult): string {
  return r._tag === "Written" ? "written" : r._tag === "Unwritten" ? "unwritten" : r._tag === "Pending" ? "pending" : "trimmed";
}

const trim = Command.make("trim", { space: spaceArg, below: Argument.Int("below").pipe(Argument.withDescription("trim every address below this one")), json, conn: connectionFlags }, (c) =>
  task(async () => {
    const space = checkSpaceName(c.space);
    const below = checkIndex(c.below, "below");
    const target = await resolveTarget(c.conn);
    const mark = await withClient(target, async (client) => {
      await openTyped(client, target, space, "registers");
      return client.trim(space, below);
    });
    if (c.json) printJson({ space, requested: below, mark });
    else printLine(`trimmed ${space} below ${mark}${mark > below ? ` (it was already trimmed further than ${below})` : ""}`);
  }),
).pipe(Command.withDescription("Trim a space below an address: monotone and durable; nothing below it can be chosen again"));

const alloc = Command.make("alloc", { space: spaceArg, segment: segmentArg, ...valueFlags, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const space = checkSpaceName(c.space);
    const segment = checkIndex(c.segment, "segment");
    const meta = await givenBytes(c);
    const target = await resolveTarget(c.conn);
    const r = await withClient(target, async (client) => {
      await openTyped(client, target, space, "registers");
      return client.alloc(space, segment, meta);
    });
    if (c.json) printJson({ space, segment, result: r._tag, ...(r._tag !== "Trimmed" ? { meta: jsonValue(r.meta) } : {}) });
    if (r._tag === "Trimmed") throw refused(`segment ${segment} of ${space} is trimmed`);
    if (r._tag === "AlreadyAllocated") throw refused(`segment ${segment} of ${space} was already allocated by another allocator: ${showValue(r.meta)}`);
    if (!c.json) printLine(`allocated segment ${segment} of ${space}: ${showValue(r.meta)}`);
  }),
).pipe(Command.withDescription("Allocate a segment with metadata (write-once: the first allocator wins)"));

const check = Command.make("check", { space: spaceArg, segment: segmentArg, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const space = checkSpaceName(c.space);
    const segment = checkIndex(c.segment, "segment");
    const target = await resolveTarget(c.conn);
    const r = await withClient(target, (client) => client.check(space, segment));
    if (c.json) printJson({ space, segment, result: r._tag, ...(r._tag === "Allocated" ? { meta: jsonValue(r.meta) } : {}) });
    else printLine(r._tag === "Allocated" ? `segment ${segment} of ${space}: allocated, ${showValue(r.meta)}` : `segment ${segment} of ${space}: ${r._tag.toLowerCase()}`);
  }),
).pipe(Command.withDescription("Read a segment's allocation metadata"));

/** An address argument, checked as the library checks it (0..the highest address). */
function address(n: number): number {
  const bad = checkAddress(n);
  if (bad) throw usage(bad.message);
  return n;
}

/** [address, --to), or the one address; a bad --to is blamed only when it was given. */
function addressRange(at: number, toFlag: Option.Option<number>): { from: number; to: number } {
  const from = address(at);
  if (Option.isNone(toFlag)) return { from, to: from + 1 };
  const to = checkIndex(toFlag.value, "--to");
  if (to <= from) throw usage(`--to ${to} must be above the address ${from}`);
  const bad = checkRange(from, to);
  if (bad) throw usage(`--to ${to}: ${bad.message}`);
  return { from, to };
}

export const worCommand = Command.make("wor").pipe(Command.withSubcommands([capture, write, unsafeWrite, read, trim, alloc, check]));
