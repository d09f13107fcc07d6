/**
 * `worm inspect`: what the acceptors hold (docs/ARCHITECTURE.md §4.6). Per acceptor: identity and, per space,
 * the trim mark, address and range-promise counts and the highest accepted index (Status). Per
 * space: its kind and segment size (its metadata register) and its segments with their allocation
 * metadata (read through the client's `check`). With `--space`: per address, each acceptor's
 * promised / accepted / committed state (Inspect). Per log (a space of kind log): its tail, trim
 * mark and last segment (inspect-logs.ts). Per transaction space (kind txn): its transactions by
 * outcome and those in doubt (inspect-txns.ts). Per LogPlayer group (kind logplayer): its epoch and
 * each shard's applied position, lag and epoch (inspect-logplayer.ts); per KV, its map and each
 * partition's node: applied position, lag, revision, keys (inspect-kv.ts).
 */
import * as Option from "effect/Option";
import { Command, Flag } from "effect/cli";
import type { Ballot } from "../../paxos/ballot.ts";
import { LIMITS, isUserSpaceName, ownerOfSystemSpace, spacesOf } from "../../paxos/limits.ts";
import type { CheckResult } from "../../wor/core/results.ts";
import { type SpaceMeta, groupsOf } from "../../wor/core/space-meta.ts";
import type { AcceptorStatus, InspectReply } from "../../wor/wire/admin.ts";
import { type Target, checkIndex, checkSpaceName, connectionFlags, groupTarget, resolveTarget, withClient } from "./cluster.ts";
import { task, usage } from "./errors.ts";
import { inspectKvs, printKvs } from "./inspect-kv.ts";
import { inspectPlayers, printPlayers } from "./inspect-logplayer.ts";
import { inspectLogs, printLogs } from "./inspect-logs.ts";
import { inspectSmrs, printSmrs } from "./inspect-smr.ts";
import { inspectTxns, printTxns } from "./inspect-txns.ts";
import { Progress, jsonValue, printJson, printLine, showBallot, showValue, table } from "./output.ts";
import { type Answer, acceptorStatuses, answered, eachAcceptor, failShortOfQuorum, mapInFlight, segmentSpan, settle, userSpacesOf } from "./statuses.ts";

const INSPECT_LIMITS = Object.freeze({
  /** Segments checked per space (the rest are counted, not read). */
  segmentsMax: 256,
  /** Addresses shown by default after the trim mark. */
  addressesDefault: 32,
  /** Segment checks in flight at once. */
  checksInFlightMax: 16,
});

interface SegmentRow {
  readonly space: string;
  readonly segmentSize: number;
  readonly segment: number;
  readonly result: CheckResult | { readonly _tag: "Error"; readonly error: string };
}

const sortedNames = (names: Iterable<string>) => [...new Set(names)].sort();

async function runInspect(c: {
  conn: Parameters<typeof resolveTarget>[0];
  space: Option.Option<string>;
  from: Option.Option<number>;
  to: Option.Option<number>;
  json: boolean;
}): Promise<void> {
  const only = Option.map(c.space, checkSpaceName);
  if (Option.isNone(only) && (Option.isSome(c.from) || Option.isSome(c.to))) throw usage("--from and --to need --space");
  const target = await resolveTarget(c.conn);
  const statuses = await acceptorStatuses(target);
  // Every acceptor group's acceptors (docs/ARCHITECTURE.md §3.6): a placed space's data is on its group's.
  const groups = [{ name: "main", target, statuses }, ...(await Promise.all((target.groups ?? []).map(async (g) => { const t = groupTarget(target, g.name); return { name: g.name, target: t, statuses: await acceptorStatuses(t) }; })))];
  const members = groups.flatMap((g) => g.statuses.map((status, k) => ({ group: g.name, address: g.target.addresses[k]!, id: g.target.acceptorIds[k], status })));
  const grouped = groups.length > 1;
  const live = answered(members.map((m) => m.status));
  const wanted = (name: string) => Option.isNone(only) || spacesOf(only.value).includes(name);
  const userSpaces = userSpacesOf(live).filter(wanted);
  if (Option.isSome(only) && !userSpaces.includes(only.value)) throw usage(`unknown space ${JSON.stringify(only.value)}: no acceptor that answered holds it`);

  const metas = await withClient(target, (client) => mapInFlight(userSpaces, INSPECT_LIMITS.checksInFlightMax, (name) => settle(client.spaceMeta(name))));
  const kinds = new Map(userSpaces.map((name, k) => [name, metas[k]!] as const));
  const typed = new Map<string, SpaceMeta>();
  for (const [name, m] of kinds) if (m.ok && m.value._tag === "Typed") typed.set(name, m.value.meta);
  const { rows: segments, cut } = await readSegments(target, live, userSpaces, typed, c.json);
  const logs = await withClient(target, (client) => inspectLogs(client, live, new Map([...typed].filter(([, m]) => m.kind === "log"))));
  const smrs = await withClient(target, (client) => inspectSmrs(client, target.security, live, new Map([...typed].filter(([, m]) => m.kind === "smr"))));
  const txns = await withClient(target, (client) => inspectTxns(client, new Map([...typed].filter(([, m]) => m.kind === "txn"))));
  const players = await withClient(target, (client) => inspectPlayers(client, target.security, new Map([...typed].filter(([, m]) => m.kind === "logplayer"))));
  const kvs = await withClient(target, (client) => inspectKvs(client, target.security, [...typed].filter(([, m]) => m.kind === "kv").map(([name]) => name), Math.min(target.timeoutMs, 3_000)));
  const holders = (name: string) => groupsOf(typed.get(name) ?? {});
  /** The configuration serving segment `segment` of `space`: its group (segment k of a striped space is on the (k mod n)-th) at the newest epoch its acceptors hold. */
  const servedBy = (space: string, segment: number) => {
    const h = holders(space);
    const group = h[segment % h.length]!;
    const epoch = answered(groups.find((g) => g.name === group)?.statuses ?? []).reduce((e, x) => Math.max(e, x.configuration?.epoch ?? 0), 0);
    return { group, epoch };
  };
  const addresses = Option.isSome(only) ? await readAddresses(groups.filter((g) => holders(only.value).includes(g.name)).map((g) => g.target), live, only.value, c.from, c.to) : undefined;

  if (c.json) {
    printJson({
      cluster: { clusterId: target.clusterId, segmentSize: target.segmentSize, quorum: target.quorum, acceptors: target.addresses.length },
      spaces: [...kinds].map(([name, m]) => ({ name, ...(m.ok ? (m.value._tag === "Typed" ? m.value.meta : { kind: null, note: "no metadata: its creation did not finish" }) : { error: m.error }) })),
      acceptors: members.map((m) => ({ group: m.group, address: m.address, ...(m.status.ok ? { status: { ...m.status.value, spaces: m.status.value.spaces.filter((x) => wanted(x.name)) } } : { error: m.status.error }) })),
      segments: segments.map((r) => ({ space: r.space, segment: r.segment, servedBy: servedBy(r.space, r.segment), result: r.result._tag, ...segmentDetail(r.result) })),
      // What was left out: segments past INSPECT_LIMITS.segmentsMax per space; addresses past the default window.
      truncated: { segments: cut, ...(addresses?.cut ? { addresses: { shown: [addresses.from, addresses.to], highestAccepted: addresses.highest } } : {}) },
      logs: logs.map((r) => (r.ok ? r.view : { log: r.log, error: r.error })),
      smrs,
      transactions: txns.map((r) => (r.ok ? r.view : { space: r.space, error: r.error })),
      players,
      kvs,
      ...(addresses
        ? {
            addresses: {
              space: addresses.space,
              from: addresses.from,
              to: addresses.to,
              byAcceptor: addresses.replies.map((r, k) => ({
                address: addresses.who[k]!.address,
                ...(r.ok ? { trimMark: r.value.trimMark, ranges: r.value.ranges, addresses: r.value.addresses.map((a) => ({ ...a, accepted: a.accepted ? { ballot: a.accepted.ballot, value: jsonValue(a.accepted.value) } : undefined })) } : { error: r.error }),
              })),
            },
          }
        : {}),
    });
    failShortOfQuorum(target, statuses, "inspect");
    return;
  }

  const shape = grouped
    ? `${members.length} acceptors in ${groups.length} groups (${groups.map((g) => `${g.name}: ${g.target.addresses.length}, quorum ${g.target.quorum}`).join("; ")})`
    : `${target.addresses.length} acceptors, quorum ${target.quorum}`;
  printLine(`cluster ${target.clusterId ?? "(from --peers)"}: ${shape}, default segment size ${target.segmentSize}`);
  if (kinds.size > 0) {
    printLine("");
    printLine(
      table(
        ["SPACE", "KIND", "SEGMENT SIZE", ...(grouped ? ["GROUP"] : [])],
        [...kinds].map(([name, m]) => {
          const row = m.ok ? (m.value._tag === "Typed" ? [name, m.value.meta.kind, String(m.value.meta.segmentSize)] : [name, "(no metadata: creation did not finish)", ""]) : [name, `error: ${m.error}`, ""];
          return grouped ? [...row, m.ok && m.value._tag === "Typed" ? holders(name).join("+") : ""] : row;
        }),
      ),
    );
  }
  printLine("");
  printLine(
    table(
      [...(grouped ? ["GROUP"] : []), "ACCEPTOR", "ADDRESS", "CLUSTER", "VERSION", "EPOCH", "STATE"],
      members.map(({ group, address, id, status: s }) => [
        ...(grouped ? [group] : []),
        ...(s.ok
          ? [String(s.value.acceptorId), address, s.value.clusterId, s.value.version, String(s.value.configuration?.epoch ?? 0), memberState(s.value)]
          : [String(id ?? "?"), address, "", "", "", `unreachable: ${s.error}`]),
      ]),
    ),
  );
  const newest = answered(statuses).reduce((e, s) => Math.max(e, s.configuration?.epoch ?? 0), 0);
  if (newest > target.epoch) printLine(`the cluster serves epoch ${newest}; this cluster file names epoch ${target.epoch}: 'worm cluster show' lists the acceptors that serve it`);
  printLine("");
  const spaceRows: string[][] = [];
  // System spaces ($alloc/, $meta/) are listed only for the space asked about with --space.
  const listed = (name: string) => wanted(name) && (Option.isSome(only) || isUserSpaceName(name));
  for (const name of sortedNames(live.flatMap((s) => s.spaces.map((x) => x.name)).filter(listed))) {
    // A space's rows are its group's acceptors (the main group holds only a placed space's metadata).
    const owner = ownerOfSystemSpace(name) ?? name;
    const on = name.startsWith("$meta/") ? ["main", ...holders(owner)] : holders(owner);
    for (const m of members) {
      const s = m.status;
      if (!s.ok || !on.includes(m.group)) continue;
      const x = s.value.spaces.find((y) => y.name === name);
      spaceRows.push(x ? [name, String(s.value.acceptorId), String(x.trimMark), String(x.addresses), String(x.ranges), x.highestAccepted < 0 ? "-" : String(x.highestAccepted)] : [name, String(s.value.acceptorId), "(missing)", "", "", ""]);
    }
  }
  printLine(spaceRows.length > 0 ? table(["SPACE", "ACCEPTOR", "TRIM", "ADDRESSES", "RANGES", "HIGHEST"], spaceRows) : "no spaces");
  if (segments.length > 0) {
    printLine("");
    printLine(
      table(
        ["SPACE", "SEGMENT", "ADDRESSES", "SERVED BY", "ALLOCATION", "META"],
        segments.map((r) => {
          const by = servedBy(r.space, r.segment);
          return [r.space, String(r.segment), `${r.segment * r.segmentSize}..${(r.segment + 1) * r.segmentSize - 1}`, `${by.group} epoch ${by.epoch}`, r.result._tag.toLowerCase(), segmentMeta(r.result)];
        }),
      ),
    );
    for (const x of cut) printLine(`(truncated: ${x.space} uses segments ${x.first}..${x.last}; only the first ${x.shown} were read)`);
  }
  printLogs(logs);
  printSmrs(smrs);
  printTxns(txns);
  printPlayers(players);
  printKvs(kvs);
  if (addresses) printAddresses(addresses);
  failShortOfQuorum(target, statuses, "inspect");
}

function segmentDetail(r: SegmentRow["result"]): Record<string, unknown> {
  if (r._tag === "Allocated") return { meta: jsonValue(r.meta) };
  if (r._tag === "Error") return { error: r.error };
  return {};
}

function segmentMeta(r: SegmentRow["result"]): string {
  if (r._tag === "Allocated") return showValue(r.meta, 60);
  if (r._tag === "Error") return r.error;
  return "";
}

/** A space whose segments were not all read. */
interface CutSegments {
  readonly space: string;
  readonly first: number;
  readonly last: number;
  readonly shown: number;
}

/** Segments from the lowest untrimmed one to the highest holding data or an allocation, at most INSPECT_LIMITS.segmentsMax per space. */
async function readSegments(
  target: Target,
  live: readonly AcceptorStatus[],
  spaces: readonly string[],
  typed: ReadonlyMap<string, SpaceMeta>,
  quiet: boolean,
): Promise<{ rows: SegmentRow[]; cut: CutSegments[] }> {
  const jobs: { space: string; segmentSize: number; segment: number }[] = [];
  const cut: CutSegments[] = [];
  for (const space of spaces) {
    const segmentSize = typed.get(space)?.segmentSize;
    if (segmentSize === undefined) continue;
    const { first, last } = segmentSpan(live, space, segmentSize);
    for (let seg = first; seg <= last && seg < first + INSPECT_LIMITS.segmentsMax; seg++) jobs.push({ space, segmentSize, segment: seg });
    if (last - first + 1 > INSPECT_LIMITS.segmentsMax) cut.push({ space, first, last, shown: INSPECT_LIMITS.segmentsMax });
  }
  if (jobs.length === 0) return { rows: [], cut };
  const progress = quiet ? undefined : new Progress("checking segments", jobs.length);
  const rows = await withClient(target, (client) =>
    mapInFlight(jobs, INSPECT_LIMITS.checksInFlightMax, async (j): Promise<SegmentRow> => {
      const r = await settle(client.check(j.space, j.segment));
      progress?.tick();
      return { ...j, result: r.ok ? r.value : { _tag: "Error", error: r.error } };
    }),
  );
  progress?.finish();
  return { rows, cut };
}

interface AddressView {
  /** Who each reply is from: its acceptor's id (if known) and address. */
  readonly who: readonly { readonly id?: number; readonly address: string }[];
  readonly space: string;
  readonly from: number;
  readonly to: number;
  readonly replies: Answer<InspectReply>[];
  /** The highest accepted index any acceptor reported. */
  readonly highest: number;
  /** The default window stopped below it (no --to given). */
  readonly cut: boolean;
}

async function readAddresses(targets: readonly Target[], live: readonly AcceptorStatus[], space: string, fromFlag: Option.Option<number>, toFlag: Option.Option<number>): Promise<AddressView> {
  const summaries = live.flatMap((s) => s.spaces.filter((x) => x.name === space));
  const trim = Math.min(...summaries.map((x) => x.trimMark));
  const highest = Math.max(-1, ...summaries.map((x) => x.highestAccepted));
  const from = Option.isSome(fromFlag) ? checkIndex(fromFlag.value, "--from") : trim;
  const to = Option.isSome(toFlag) ? checkIndex(toFlag.value, "--to") : Math.max(from + 1, Math.min(highest + 1, from + INSPECT_LIMITS.addressesDefault));
  if (to <= from) throw usage(`--to ${to} must be above --from ${from}`);
  if (to - from > LIMITS.rangeMax) throw usage(`inspect at most ${LIMITS.rangeMax} addresses at once`);
  const replies = (await Promise.all(targets.map((t) => eachAcceptor(t, (a) => a.inspect({ space, from, to }))))).flat();
  const who = targets.flatMap((t) => t.addresses.map((address, k) => ({ address, ...(t.acceptorIds[k] !== undefined ? { id: t.acceptorIds[k] } : {}) })));
  return { who, space, from, to, replies, highest, cut: Option.isNone(toFlag) && highest >= to };
}

function printAddresses(v: AddressView): void {
  printLine("");
  printLine(`${v.space}[${v.from}, ${v.to}): per acceptor (addresses with no state of their own are not listed)`);
  const rows: string[][] = [];
  const byIndex = new Map<number, string[][]>();
  v.replies.forEach((r, k) => {
    const who = String(v.who[k]!.id ?? v.who[k]!.address);
    if (!r.ok) {
      rows.push(["*", who, `error: ${r.error}`, "", "", ""]);
      return;
    }
    for (const a of r.value.addresses) {
      const row = [String(a.index), who, ballotText(a.promised), a.accepted ? ballotText(a.accepted.ballot) : "-", a.committed ? "yes" : "no", a.accepted ? showValue(a.accepted.value, 50) : ""];
      const list = byIndex.get(a.index) ?? [];
      list.push(row);
      byIndex.set(a.index, list);
    }
  });
  for (const i of [...byIndex.keys()].sort((a, b) => a - b)) rows.push(...byIndex.get(i)!);
  printLine(rows.length > 0 ? table(["ADDRESS", "ACCEPTOR", "PROMISED", "ACCEPTED", "COMMITTED", "VALUE"], rows) : "(no address in range holds state)");
  if (v.cut) printLine(`(truncated: showing ${v.to - v.from} addresses from ${v.from}; values are accepted up to ${v.space}[${v.highest}]: give --from and --to to see more)`);
  const ranges: string[][] = [];
  v.replies.forEach((r, k) => {
    if (!r.ok) return;
    const who = String(v.who[k]!.id ?? v.who[k]!.address);
    for (const p of r.value.ranges) ranges.push([who, `[${p.from}, ${p.to})`, ballotText(p.ballot)]);
    if (r.value.trimMark > 0) ranges.push([who, `[0, ${r.value.trimMark})`, "trimmed"]);
  });
  if (ranges.length > 0) {
    printLine("");
    printLine(table(["ACCEPTOR", "RANGE", "PROMISE"], ranges));
  }
}

const ballotText = (b: Ballot): string => showBallot(b);

export const inspectCommand = Command.make(
  "inspect",
  {
    space: Flag.optional(Flag.String("space").pipe(Flag.withDescription("show this space's addresses per acceptor"))),
    from: Flag.optional(Flag.Int("from").pipe(Flag.withDescription("first address (default: the trim mark)"))),
    to: Flag.optional(Flag.Int("to").pipe(Flag.withDescription(`end address, exclusive (default: up to ${INSPECT_LIMITS.addressesDefault} addresses)`))),
    json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("print one JSON document")),
    conn: connectionFlags,
  },
  (c) => task(() => runInspect(c)),
);

/** An acceptor's part in the configuration it holds (docs/ARCHITECTURE.md §3.5). */
function memberState(s: AcceptorStatus): string {
  if (s.joining) return "up, joining";
  const c = s.configuration;
  return c && !c.acceptors.some((m) => m.id === s.acceptorId) ? "up, retired" : "up";
}
