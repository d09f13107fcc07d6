/**
 * `worm space create NAME [--group G]`: create a register space (and its system spaces) at every
 * acceptor of its group, with its kind, segment size and group chosen once, as write-once metadata
 * (docs/ARCHITECTURE.md §3.6). `worm space list`: every space, with its kind, segment size, group,
 * the segments it uses and its trim mark.
 */
import * as Option from "effect/Option";
import { Argument, Command, Flag } from "effect/cli";
import type { CreateSpaceResult } from "../../wor/core/results.ts";
import { type SpaceKind, type SpaceMeta, describePlacement, describeSpaceMeta, groupsOf, kindNoun } from "../../wor/core/space-meta.ts";
import { checkSpaceName, connectionFlags, groupTarget, resolveTarget, withClient, type Target } from "./cluster.ts";
import { task, usage } from "./errors.ts";
import { printJson, printLine, table } from "./output.ts";
import { NAME_GRAMMAR } from "../../paxos/limits.ts";
import type { AcceptorStatus } from "../../wor/wire/admin.ts";
import { acceptorStatuses, answered, failShortOfQuorum, mapInFlight, segmentSpan, settle, userSpacesOf } from "./statuses.ts";

const SPACE_LIST_LIMITS = Object.freeze({
  /** Metadata reads in flight at once. */
  metaReadsInFlightMax: 16,
});

/**
 * Report a create: "created" or "exists" when the space is what was asked for; a usage failure when
 * the name is taken by another kind, or by the same kind with another segment size given explicitly.
 */
export function reportCreate(what: string, name: string, kind: SpaceKind, target: Target, r: CreateSpaceResult, json: boolean, asked?: { readonly group?: string; readonly stripe?: readonly string[] }): void {
  const m: SpaceMeta = r.meta;
  if (m.kind !== kind) throw usage(`${name} already exists as ${kindNoun(m.kind)} (segment size ${m.segmentSize}), not ${kindNoun(kind)}`);
  if (target.segmentSizeGiven !== undefined && m.segmentSize !== target.segmentSizeGiven) {
    throw usage(`${what} ${name} already exists with segment size ${m.segmentSize}, not ${target.segmentSizeGiven}`);
  }
  if (asked !== undefined && groupsOf(m).join() !== groupsOf(asked).join()) throw usage(`${what} ${name} already exists ${describePlacement(m)}, not ${describePlacement(asked)}`);
  if (json) printJson({ name, result: r._tag, kind: m.kind, segmentSize: m.segmentSize, ...(m.stripe ? { stripe: m.stripe } : { group: m.group ?? "main" }) });
  else printLine(r._tag === "Created" ? `created ${what} ${name} (${describeSpaceMeta(m)})` : `${what} ${name} exists (${describeSpaceMeta(m)})`);
}

/** `--group G`: the acceptor group a new space lives in (default: the main group); `--stripe G1,G2,...`: the groups its segments are striped over. */
export const groupFlag = Flag.optional(Flag.String("group").pipe(Flag.withDescription("the acceptor group of the cluster file the new space lives in (default: main)")));
export const stripeFlag = Flag.optional(
  Flag.String("stripe").pipe(Flag.withDescription("the acceptor groups the new space's segments are striped over, comma-separated: segment k lives on the (k mod n)-th (\"main\" may be one)")),
);

/** Where `--group` or `--stripe` place a new space, checked against the target's cluster file (nothing: the main group). */
export function placement(target: Target, groupOpt: Option.Option<string>, stripeOpt: Option.Option<string>): { readonly group?: string; readonly stripe?: readonly string[] } {
  const group = Option.getOrUndefined(groupOpt);
  const stripe = Option.getOrUndefined(stripeOpt)?.split(",").map((g) => g.trim());
  if (group !== undefined && stripe !== undefined) throw usage("give --group or --stripe, not both");
  const known = ["main", ...(target.groups ?? []).map((g) => g.name)];
  for (const [flag, g] of [...(group !== undefined ? [["--group", group]] : []), ...(stripe ?? []).map((g) => ["--stripe", g])]) {
    if (!known.includes(g!)) throw usage(`${flag} ${g}: the cluster file names no such group (its groups: ${known.join(", ")})`);
  }
  if (stripe !== undefined) {
    if (stripe.length < 2 || new Set(stripe).size !== stripe.length) throw usage("--stripe names two or more distinct groups");
    return { stripe };
  }
  return group === undefined || group === "main" ? {} : { group };
}

const create = Command.make(
  "create",
  {
    name: Argument.String("name").pipe(Argument.withDescription(NAME_GRAMMAR)),
    group: groupFlag,
    stripe: stripeFlag,
    json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("print one JSON document")),
    conn: connectionFlags,
  },
  (c) =>
    task(async () => {
      const space = checkSpaceName(c.name);
      const target = await resolveTarget(c.conn);
      const placed = placement(target, c.group, c.stripe);
      const r = await withClient(target, (client) => client.createSpace(space, { kind: "registers", segmentSize: target.segmentSize, ...placed }));
      reportCreate("space", space, "registers", target, r, c.json, Option.isSome(c.group) || Option.isSome(c.stripe) ? placed : undefined);
    }),
).pipe(Command.withDescription("Create a register space (--segment-size sets its segment size, --group the acceptor group it lives in, --stripe the groups its segments are striped over); creating an existing one is a no-op"));

interface SpaceRow {
  readonly name: string;
  /** Null when the space has no metadata (its creation did not finish) or it could not be read. */
  readonly kind: SpaceKind | null;
  readonly segmentSize: number | null;
  /** The acceptor group it lives in ("main": the cluster file's own acceptors), or "g1+g2" for the groups it is striped over. */
  readonly group: string | null;
  /** Segments from the trim mark's to the highest holding data or an allocation. */
  readonly segments: { readonly first: number; readonly last: number; readonly count: number } | null;
  readonly trimMark: number;
  readonly note?: string;
}

const list = Command.make("list", { json: Flag.Boolean("json").pipe(Flag.withDescription("print one JSON document"), Flag.withDefault(false)), conn: connectionFlags }, (c) =>
  task(async () => {
    const target = await resolveTarget(c.conn);
    const statuses = await acceptorStatuses(target);
    const live = answered(statuses);
    const names = userSpacesOf(live);
    const metas = await withClient(target, (client) => mapInFlight(names, SPACE_LIST_LIMITS.metaReadsInFlightMax, (name) => settle(client.spaceMeta(name))));
    // A space placed on another group holds its data there: its segments are counted from that group's acceptors.
    const groupLive = new Map<string, AcceptorStatus[]>(
      await Promise.all(
        (target.groups ?? []).map(async (g) => [g.name, answered(await acceptorStatuses(groupTarget(target, g.name)))] as const),
      ),
    );
    const rows: SpaceRow[] = names.map((name, k) => {
      const m = metas[k]!;
      const meta = m.ok && m.value._tag === "Typed" ? m.value.meta : undefined;
      if (!meta) {
        const note = m.ok ? "no metadata: its creation did not finish" : m.error;
        return { name, kind: null, segmentSize: null, group: null, segments: null, trimMark: segmentSpan(live, name, 1).trimMark, note };
      }
      const holders = groupsOf(meta);
      const span = segmentSpan(holders.flatMap((g) => (g === "main" ? live : (groupLive.get(g) ?? []))), name, meta.segmentSize);
      return { name, kind: meta.kind, segmentSize: meta.segmentSize, group: holders.join("+"), segments: { first: span.first, last: span.last, count: Math.max(0, span.last - span.first + 1) }, trimMark: span.trimMark };
    });
    if (c.json) printJson({ spaces: rows });
    else if (rows.length === 0) printLine("no spaces; create one with 'worm space create NAME' or 'worm log create NAME'");
    else {
      const segs = (r: SpaceRow) => (r.segments === null ? "" : r.segments.count === 0 ? "0" : `${r.segments.count} (${r.segments.first}..${r.segments.last})`);
      const grouped = (target.groups ?? []).length > 0;
      const header = ["NAME", "KIND", "SEGMENT SIZE", ...(grouped ? ["GROUP"] : []), "SEGMENTS", "TRIM"];
      printLine(table(header, rows.map((r) => [r.name, r.kind ?? `(${r.note})`, r.segmentSize === null ? "" : String(r.segmentSize), ...(grouped ? [r.group ?? ""] : []), segs(r), String(r.trimMark)])));
    }
    failShortOfQuorum(target, statuses, "space list");
  }),
).pipe(Command.withDescription("List every space: kind, segment size, the segments it uses (from the trim mark's to the highest holding data or an allocation) and trim mark"));

export const spaceCommand = Command.make("space").pipe(Command.withSubcommands([create, list]));
