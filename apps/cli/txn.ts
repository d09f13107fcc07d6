/**
 * `worm txn create|status|resolve|list`: WormTX transactions (docs/ARCHITECTURE.md §4.3) from the
 * command line. A transaction space is a space of kind txn (a verb's SPACE, as `worm space create
 * NAME` and `worm log create NAME` take theirs, or `--space`; default `txn`); a
 * transaction is one of its segments, named by its number. These verbs run the stateless
 * coordinator library (apps/txn/node/coordinator.ts) with no participants: they read the votes,
 * and `resolve` decides a transaction past its deadline by writing NO into its missing votes.
 */
import { Argument, Command, Flag } from "effect/cli";
import * as Option from "effect/Option";
import type { TxnStatus } from "../txn/core/scan.ts";
import type { VoteRead } from "../txn/core/resolve.ts";
import { TXN_SEGMENT_SIZE } from "../txn/core/record.ts";
import { TxnCoordinator } from "../txn/node/coordinator.ts";
import { checkIndex, checkSpaceName, connectionFlags, openTyped, resolveTarget, withClient } from "./cluster.ts";
import { task, usage } from "./errors.ts";
import { printJson, printLine, table } from "./output.ts";
import { reportCreate } from "./space.ts";
import { txnParticipantCommand } from "./txn-participant.ts";

const TXN_CLI_LIMITS = Object.freeze({
  /** Claimed blocks `worm txn list` reads (the last ones): 63 transactions each. */
  listBlocksMax: 16,
});

const DEFAULT_SPACE = "txn";
const spaceOption = Flag.optional(Flag.String("space").pipe(Flag.withDescription(`the transaction space, as --space instead of SPACE (default: ${DEFAULT_SPACE})`)));
const spaceArg = Argument.optional(Argument.String("space").pipe(Argument.withDescription(`the transaction space (a space of kind txn; default: ${DEFAULT_SPACE})`)));

/** The space named by SPACE or --space (once), else the default. */
function spaceOf(arg: Option.Option<string>, flag: Option.Option<string>): string {
  if (Option.isSome(arg) && Option.isSome(flag) && arg.value !== flag.value) throw usage(`give the transaction space once: SPACE ${arg.value} or --space ${flag.value}`);
  return Option.getOrElse(Option.orElse(arg, () => flag), () => DEFAULT_SPACE);
}
const json = Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("print JSON"));
const txnArgs = Argument.String("txn").pipe(
  Argument.variadic({ min: 1, max: 2 }),
  Argument.withDescription("ID (the transaction's number: its segment), or SPACE ID (its transaction space first)"),
);

/** The transaction named by [SPACE] ID (or --space). */
function txnOf(args: readonly string[], flag: Option.Option<string>): { readonly space: string; readonly txn: number } {
  const id = args.at(-1)!;
  if (!/^\d+$/.test(id)) throw usage(`the transaction id is a number, not ${JSON.stringify(id)}${args.length === 1 ? " (a space goes first: SPACE ID)" : ""}`);
  return { space: spaceOf(args.length === 2 ? Option.some(args[0]!) : Option.none(), flag), txn: checkIndex(Number(id), "the transaction id") };
}

/** Run `f` with a coordinator of `space` (checked to be a transaction space first). */
async function withTxns<T>(conn: Parameters<typeof resolveTarget>[0], space: string, f: (c: TxnCoordinator) => Promise<T>): Promise<T> {
  const name = checkSpaceName(space);
  const target = await resolveTarget(conn);
  return withClient(target, async (client) => {
    await openTyped(client, target, name, "txn");
    return f(new TxnCoordinator({ client, space: name, owner: "worm-cli" }));
  });
}

const voteText = (v: VoteRead): string => (v.state === "chosen" ? v.vote.kind.toUpperCase() : v.state);

function statusJson(s: TxnStatus): Record<string, unknown> {
  return {
    txn: s.txn,
    participants: s.record.participants,
    deadline: new Date(s.record.deadline).toISOString(),
    coordinator: s.record.coordinator,
    votes: s.votes.map((v, i) => ({ participant: s.record.participants[i], vote: voteText(v) })),
    outcome: s.outcome ?? "in doubt",
    inDoubt: s.inDoubt,
  };
}

const statusRow = (s: TxnStatus): string[] => [
  String(s.txn),
  s.outcome ?? "in doubt",
  s.record.participants.map((p, i) => `${p}=${voteText(s.votes[i]!)}`).join(" "),
  s.inDoubt.join(",") || "-",
  new Date(s.record.deadline).toISOString(),
];
const STATUS_HEADER = ["TXN", "OUTCOME", "VOTES", "IN DOUBT", "DEADLINE"];

const create = Command.make("create", { name: spaceArg, space: spaceOption, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const space = checkSpaceName(spaceOf(c.name, c.space));
    const target = await resolveTarget(c.conn);
    const r = await withClient(target, (client) => TxnCoordinator.create(client, space, target.segmentSizeGiven ?? TXN_SEGMENT_SIZE));
    reportCreate("transaction space", space, "txn", target, r, c.json);
  }),
).pipe(Command.withDescription(`Create a transaction space (segment size ${TXN_SEGMENT_SIZE}: one vote per participant); creating an existing one is a no-op`));

const status = Command.make("status", { txn: txnArgs, space: spaceOption, json, conn: connectionFlags }, (c) =>
  task(async () => {
    const { space, txn } = txnOf(c.txn, c.space);
    const s = await withTxns(c.conn, space, (t) => t.status(txn));
    if (c.json) printJson(statusJson(s));
    else printLine(table(STATUS_HEADER, [statusRow(s)]));
  }),
).pipe(Command.withDescription("Show a transaction: its participants' votes, its outcome (commit iff every vote is YES) and who is in doubt; reads only"));

const resolveVerb = Command.make(
  "resolve",
  {
    txn: txnArgs,
    force: Flag.Boolean("force").pipe(Flag.withDefault(false), Flag.withDescription("decide now, before the deadline (its coordinator may still be voting: it will then abort)")),
    space: spaceOption,
    json,
    conn: connectionFlags,
  },
  (c) =>
    task(async () => {
      const { space, txn } = txnOf(c.txn, c.space);
      const r = await withTxns(c.conn, space, async (t) => ({ resolution: await t.resolve(txn, c.force), status: await t.status(txn) }));
      const { outcome, recovered } = r.resolution;
      if (c.json) printJson({ ...statusJson(r.status), recovered });
      else if (outcome === undefined) printLine(`transaction ${txn} is in doubt until its deadline ${new Date(r.status.record.deadline).toISOString()} (--force decides it now)`);
      else printLine(`transaction ${txn} ${outcome}${recovered ? " (this resolve wrote NO into the missing votes)" : ""}`);
    }),
).pipe(Command.withDescription("Learn a transaction's outcome; past its deadline (or with --force) decide it by capturing its missing votes and writing NO there"));

const list = Command.make(
  "list",
  {
    name: spaceArg,
    inDoubt: Flag.Boolean("in-doubt").pipe(Flag.withDefault(false), Flag.withDescription("only transactions not yet decided")),
    space: spaceOption,
    json,
    conn: connectionFlags,
  },
  (c) =>
    task(async () => {
      const space = spaceOf(c.name, c.space);
      const all = await withTxns(c.conn, space, (t) => t.list(TXN_CLI_LIMITS.listBlocksMax));
      const rows = c.inDoubt ? all.filter((s) => s.outcome === undefined) : all;
      if (c.json) printJson({ space, transactions: rows.map(statusJson) });
      else if (rows.length === 0) printLine(c.inDoubt ? "no transaction in doubt" : "no transactions");
      else printLine(table(STATUS_HEADER, rows.map(statusRow)));
    }),
).pipe(Command.withDescription(`List the transactions of the last ${TXN_CLI_LIMITS.listBlocksMax} claimed blocks with their votes and outcomes (--in-doubt: only the undecided)`));

export const txnCommand = Command.make("txn").pipe(Command.withSubcommands([create, status, resolveVerb, list, txnParticipantCommand]));
