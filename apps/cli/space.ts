/**
 * `worm space create NAME`: create a register space (and its system spaces) at every acceptor, with
 * its kind and segment size chosen once, as write-once metadata. `worm space list`: every space the
 * acceptors hold, with its kind, segment size, the segments it uses and its trim mark.
 */
import { Argument, Command, Flag } from "effect/cli";
import type { CreateSpaceResult } from "../../wor/core/results.ts";
import { type SpaceKind, type SpaceMeta, describeSpaceMeta, kindNoun } from "../../wor/core/space-meta.ts";
import { checkSpaceName, connectionFlags, resolveTarget, withClient, type Target } from "./cluster.ts";
import { task, usage } from "./errors.ts";
import { printJson, printLine, table } from "./output.ts";
import { NAME_GRAMMAR } from "../../paxos/limits.ts";
import { acceptorStatuses, answered, failShortOfQuorum, mapInFlight, segmentSpan, settle, userSpacesOf } from "./statuses.ts";

const SPACE_LIST_LIMITS = Object.freeze({
  /** Metadata reads in flight at once. */
  metaReadsInFlightMax: 16,
});

/**
 * Report a create: "created" or "exists" when the space is what was asked for; a usage failure when
 * the name is taken by another kind, or by the same kind with another segment size given explicitly.
 */
export function reportCreate(what: string, name: string, kind: SpaceKind, target: Target, r: CreateSpaceResult, json: boolean): void {
  const m: SpaceMeta = r.meta;
  if (m.kind !== kind) throw usage(`${name} already exists as ${kindNoun(m.kind)} (segment size ${m.segmentSize}), not ${kindNoun(kind)}`);
  if (target.segmentSizeGiven !== undefined && m.segmentSize !== target.segmentSizeGiven) {
    throw usage(`${what} ${name} already exists with segment size ${m.segmentSize}, not ${target.segmentSizeGiven}`);
  }
  if (json) printJson({ name, result: r._tag, kind: m.kind, segmentSize: m.segmentSize });
  else printLine(r._tag === "Created" ? `created ${what} ${name} (${describeSpaceMeta(m)})` : `${what} ${name} exists (${describeSpaceMeta(m)})`);
}

const create = Command.make(
  "create",
  {
    name: Argument.String("name").pipe(Argument.withDescription(NAME_GRAMMAR)),
    json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("print one JSON document")),
    conn: connectionFlags,
  },
  (c) =>
    task(async () => {
      const space = checkSpaceName(c.name);
      const target = await resolveTarget(c.conn);
      const r = await withClient(target, (client) => client.createSpace(space, { kind: "registers", segmentSize: target.segmentSize }));
      reportCreate("space", space, "registers", target, r, c.json);
    }),
).pipe(Command.withDescription("Create a register space (--segment-size sets its segment size); creating an existing one is a no-op"));

interface SpaceRow {
  readonly name: string;
  /** Null when the space has no metadata (its creation did not finish) or it could not be read. */
  readonly kind: SpaceKind | null;
  readonly segmentSize: number | null;
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
    const rows: SpaceRow[] = names.map((name, k) => {
      const m = metas[k]!;
      const meta = m.ok && m.value._tag === "Typed" ? m.value.meta : undefined;
      if (!meta) {
        const note = m.ok ? "no metadata: its creation did not finish" : m.error;
        return { name, kind: null, segmentSize: null, segments: null, trimMark: segmentSpan(live, name, 1).trimMark, note };
      }
      const span = segmentSpan(live, name, meta.segmentSize);
      return { name, kind: meta.kind, segmentSize: meta.segmentSize, segments: { first: span.first, last: span.last, count: Math.max(0, span.last - span.first + 1) }, trimMark: span.trimMark };
    });
    if (c.json) printJson({ spaces: rows });
    else if (rows.length === 0) printLine("no spaces; create one with 'worm space create NAME' or 'worm log create NAME'");
    else {
      const segs = (r: SpaceRow) => (r.segments === null ? "" : r.segments.count === 0 ? "0" : `${r.segments.count} (${r.segments.first}..${r.segments.last})`);
      printLine(table(["NAME", "KIND", "SEGMENT SIZE", "SEGMENTS", "TRIM"], rows.map((r) => [r.name, r.kind ?? `(${r.note})`, r.segmentSize === null ? "" : String(r.segmentSize), segs(r), String(r.trimMark)])));
    }
    failShortOfQuorum(target, statuses, "space list");
  }),
).pipe(Command.withDescription("List every space: kind, segment size, the segments it uses (from the trim mark's to the highest holding data or an allocation) and trim mark"));

export const spaceCommand = Command.make("space").pipe(Command.withSubcommands([create, list]));
