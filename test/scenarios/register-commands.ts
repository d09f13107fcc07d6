/**
 * The register layer's commands, the network's and time's, and the inspections (README.md lists
 * them with examples). An operation command starts the operation on the named process's client
 * core and runs the world until it finishes: that process's messages are delivered (and the
 * sequencers'), nobody else's, and time moves to each next timer. With `async` it only starts.
 */
import { OWNER_BALLOT } from "../../paxos/ballot.ts";
import { effectivePromise, forEachOwn } from "../../paxos/acceptor.ts";
import { isAcceptorName } from "./world.ts";
import type { RegisterOpStep } from "./adapter.ts";
import type { Args, CommandTable } from "./interpreter.ts";
import { toInt } from "./interpreter.ts";
import { logRead } from "./log-commands.ts";
import * as fmt from "./format.ts";
import type { Proc, Top } from "./procs.ts";
import type { Msg, Trace, World } from "./world.ts";
import { SPACE_KINDS, type SpaceKind } from "../../wor/core/space-meta.ts";

const utf8 = new TextEncoder();

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** Start `start`'s operation; unless `async`, run it to its end. */
export function op(w: World, a: Args, start: () => Top): void {
  const async = a.flag("async");
  a.done();
  const top = start();
  if (async) {
    if (top.status === undefined) w.say(`${top.proc.name} op${top.n} ${top.what}: started`);
  } else w.runOp(top);
}

/** `index "value"` pairs up to the end of the arguments (flags taken out first). */
function entries(a: Args): { index: number; value: Uint8Array }[] {
  const out: { index: number; value: Uint8Array }[] = [];
  const async = a.flag("async");
  while (a.more) out.push({ index: a.int("index"), value: utf8.encode(a.text("value")) });
  if (out.length === 0) throw new Error(`${a.command}: needs index "value" pairs`);
  if (async) a.putBack("async");
  return out;
}

function register(w: World, p: Proc, a: Args, step: RegisterOpStep): void {
  op(w, a, () =>
    w.startRegister(p, step, (r) => {
      if (step.kind === "capture" && r.ok && (r.value as { _tag: string })._tag === "Captured") p.captures.push((r.value as { capture: Proc["captures"][number] }).capture);
    }),
  );
}

/** Messages chosen by `from X`, `to Y`, `kind K` (a request or reply kind, or `request`/`reply`). */
function filter(w: World, a: Args): { match: (m: Msg) => boolean; count: number } {
  const from = a.pair("from");
  const to = a.pair("to");
  const kind = a.pair("kind");
  const count = a.pair("count");
  a.done();
  const name = (m: Msg, end: "from" | "to"): string => {
    const x = m[end];
    return typeof x === "number" ? w.acceptors[x]!.name : x;
  };
  const kindOf = (m: Msg): string => (m.kind === "request" ? m.request.kind : m.reply.kind);
  const match = (m: Msg): boolean =>
    (from === undefined || from.split(",").includes(name(m, "from"))) &&
    (to === undefined || to.split(",").includes(name(m, "to"))) &&
    (kind === undefined || kind === m.kind || kind.split(",").includes(kindOf(m)));
  return { match, count: count === undefined ? Number.POSITIVE_INFINITY : toInt(count, "count") };
}

function stateOf(w: World, acceptor: string, space: string, from: number, to: number): string[] {
  const a = w.acceptor(acceptor);
  if (!a.up) return [`${a.name}: down`];
  const s = a.live.spaces.get(space);
  if (!s) return [`${a.name}: no space ${space}`];
  const { mutations, replies } = a.unsynced;
  const head = [
    s.trimMark > 0 ? `trim ${s.trimMark}` : "",
    s.ranges.length > 0 ? `ranges ${s.ranges.map((g) => `[${g.from},${g.to})@${fmt.ballot(g.ballot)}`).join(" ")}` : "",
    mutations + replies > 0 ? `unsynced: ${plural(mutations, "mutation")}, ${plural(replies, "held reply", "held replies")}` : "",
  ].filter((x) => x !== "");
  const lines = [`${a.name}${head.length > 0 ? `: ${head.join("; ")}` : ""}`];
  forEachOwn(s, from, to, (i, st) => {
    const acc = st.accepted ? ` accepted ${fmt.value(st.accepted.value)}@${fmt.ballot(st.accepted.ballot)}` : "";
    lines.push(`  ${space}[${i}] promised ${fmt.ballot(effectivePromise(s, i))}${acc}${st.committed ? " committed" : ""}`);
  });
  return lines;
}

export const REGISTER_COMMANDS: CommandTable = {
  acceptors: (w, a) => {
    const n = a.int("count");
    a.done();
    w.setAcceptors(n);
    w.say(`acceptors ${w.acceptors.map((x) => x.name).join(" ")} (quorum ${Math.floor(n / 2) + 1})`);
  },
  create: (w, a) => {
    const space = a.word("space");
    const kind = (a.opt("kind") ?? "registers") as SpaceKind;
    const segmentSize = toInt(a.opt("segment") ?? "16", "segment");
    a.done();
    if (!SPACE_KINDS.includes(kind)) throw new Error(`create: kind must be one of ${SPACE_KINDS.join(", ")}`);
    w.createSpace(space, { kind, segmentSize });
    w.say(`space ${space} (${kind}, segment size ${segmentSize}) at ${w.acceptors.map((x) => x.name).join(" ")}`);
  },
  clients: (w, a) => {
    if (!a.more) throw new Error("clients: name at least one process");
    while (a.more) w.proc(a.word("process"));
  },
  disk: (w, a) => {
    const acc = w.acceptor(a.word("acceptor"));
    const mode = a.word("auto|manual");
    a.done();
    if (mode !== "auto" && mode !== "manual") throw new Error("disk: mode is auto or manual");
    acc.mode = mode;
    w.say(`${acc.name} disk ${mode === "manual" ? "syncs only when told (sync)" : "syncs every step"}`);
    if (mode === "auto") w.post(acc, acc.sync());
  },
  trace: (w, a) => {
    const level = a.word("level");
    a.done();
    if (level !== "ops" && level !== "steps" && level !== "messages") throw new Error("trace: ops, steps or messages");
    w.trace = level as Trace;
  },
  capture: (w, a) => {
    const p = w.proc(a.word("process"));
    const space = a.word("space");
    const [from, to] = a.range("range");
    register(w, p, a, { kind: "capture", space, from, to });
  },
  write: (w, a) => {
    const p = w.proc(a.word("process"));
    const space = a.word("space");
    const list = entries(a);
    const held = p.captures.findLast((c) => c.space === space && list.every((e) => c.from <= e.index && e.index < c.to));
    if (!held) throw new Error(`write: ${p.name} holds no capture of ${space} covering ${list.map((e) => e.index).join(" ")}`);
    register(w, p, a, { kind: "write", capture: held, entries: list });
  },
  "unsafe-write": (w, a) => {
    const p = w.proc(a.word("process"));
    const space = a.word("space");
    const list = entries(a);
    const at = list.map((e) => e.index);
    const like: RegisterOpStep = { kind: "write", capture: { space, from: Math.min(...at), to: Math.max(...at) + 1, ballot: OWNER_BALLOT }, entries: list };
    op(w, a, () => w.startOp(p, like, () => p.wor.unsafeWrite(space, list, w.now)));
  },
  read: (w, a) => {
    const p = w.proc(a.word("process"));
    const space = a.word("space");
    const [from, to] = a.range("range");
    if (w.spaces.get(space)?.kind === "log" && !a.flag("raw")) return logRead(w, p, a, space, from, to);
    register(w, p, a, { kind: "read", space, from, to, recover: a.flag("recover") });
  },
  trim: (w, a) => {
    const p = w.proc(a.word("process"));
    const space = a.word("space");
    register(w, p, a, { kind: "trim", space, below: a.int("mark") });
  },
  alloc: (w, a) => {
    const p = w.proc(a.word("process"));
    const space = a.word("space");
    const segment = a.int("segment");
    register(w, p, a, { kind: "alloc", space, segment, meta: utf8.encode(a.text("metadata")) });
  },
  check: (w, a) => {
    const p = w.proc(a.word("process"));
    const space = a.word("space");
    register(w, p, a, { kind: "check", space, segment: a.int("segment") });
  },
  deliver: (w, a) => {
    const { match, count } = filter(w, a);
    if (w.deliver(match, count) === 0) w.say("(nothing to deliver)");
  },
  drop: (w, a) => {
    const { match, count } = filter(w, a);
    const dropped = w.queue.filter(match).slice(0, count);
    w.queue = w.queue.filter((m) => !dropped.includes(m));
    for (const m of dropped) w.say(`dropped: ${w.describe(m)}`);
    if (dropped.length === 0) w.say("(nothing to drop)");
  },
  duplicate: (w, a) => {
    const { match, count } = filter(w, a);
    const chosen = w.queue.filter(match).slice(0, count);
    w.queue = w.queue.flatMap((m) => (chosen.includes(m) ? [m, { ...m }] : [m]));
    for (const m of chosen) w.say(`duplicated: ${w.describe(m)}`);
  },
  crash: (w, a) => {
    const name = a.word("node");
    a.done();
    if (isAcceptorName(name)) {
      const lost = w.acceptor(name).crash();
      w.say(`${name} crashes, losing ${plural(lost.mutations, "unsynced mutation")} and ${plural(lost.replies, "held reply", "held replies")}`);
      return;
    }
    const p = w.procs.get(name);
    if (!p?.alive) throw new Error(`crash: no live process ${name}`);
    w.say(`${name} crashes`);
    w.crashProc(p);
  },
  restart: (w, a) => {
    const acc = w.acceptor(a.word("acceptor"));
    a.done();
    if (acc.up) throw new Error(`restart: ${acc.name} is up`);
    w.say(`${acc.name} restarts from its disk (${acc.restart()} durable mutations)`);
  },
  sync: (w, a) => {
    const acc = w.acceptor(a.word("acceptor"));
    a.done();
    const { mutations } = acc.unsynced;
    const released = acc.sync();
    w.post(acc, released);
    const replies = released.flatMap((r) => r.replies.map((x) => `${fmt.replyBrief(x)} → ${r.to.proc}`));
    w.say(`${acc.name} syncs ${plural(mutations, "mutation")}${replies.length > 0 ? `, releases ${replies.join(", ")}` : ""}`);
  },
  partition: (w, a) => {
    const first = a.word("node");
    const others: string[] = [];
    while (a.more) others.push(a.word("node"));
    if (others.length === 0) w.cut(first, undefined);
    for (const o of others) w.cut(first, o);
    w.say(others.length === 0 ? `${first} is cut off from everyone` : `links cut: ${others.map((o) => `${first}–${o}`).join(" ")}`);
  },
  heal: (w, a) => {
    a.done();
    w.heal();
    w.say("every link is up");
  },
  tick: (w, a) => {
    const ms = a.int("milliseconds");
    a.done();
    w.advanceTo(w.now + ms, true);
    w.say(`t=${w.now}`);
  },
  run: (w, a) => {
    const ms = a.more ? a.int("milliseconds") : undefined;
    a.done();
    const why = w.run(() => !w.tops.some((t) => t.status === undefined), () => true, ms, ms !== undefined);
    if (ms === undefined && why !== "done") w.say(`(still running at t=${w.now}: ${w.tops.filter((t) => t.status === undefined).map((t) => `${t.proc.name} op${t.n}`).join(" ")})`);
    else w.say(`t=${w.now}`);
  },
  state: (w, a) => {
    const first = a.word("acceptor or space");
    const names = isAcceptorName(first) ? [first] : w.acceptors.map((x) => x.name);
    const space = isAcceptorName(first) ? a.word("space") : first;
    const [from, to] = a.range("range");
    a.done();
    for (const n of names) for (const line of stateOf(w, n, space, from, to)) w.say(line);
  },
  chosen: (w, a) => {
    const space = a.word("space");
    const [from, to] = a.range("range");
    a.done();
    let any = false;
    for (let i = from; i < to; i++) {
      for (const v of w.ghost.chosenVotes(space, i)) {
        any = true;
        w.say(`${space}[${i}] ${fmt.value(v.value)} chosen at ${fmt.ballot(v.ballot)} by ${[...v.voters].sort().map((x) => w.acceptors[x]!.name).join(" ")}`);
      }
    }
    if (!any) w.say(`nothing chosen in ${fmt.span(space, from, to)}`);
  },
  pending: (w, a) => {
    a.done();
    for (const t of w.tops) w.say(`${t.proc.name} op${t.n} ${t.what}: ${t.status ?? "running"}`);
    if (w.tops.length === 0) w.say("(no operations)");
  },
  queue: (w, a) => {
    a.done();
    for (const m of w.queue) w.say(`in flight: ${w.describe(m)}`);
    for (const acc of w.acceptors) {
      const u = acc.unsynced;
      if (u.mutations + u.replies > 0) w.say(`${acc.name} holds ${plural(u.mutations, "unsynced mutation")} and ${plural(u.replies, "reply", "replies")}`);
    }
    if (w.queue.length === 0) w.say("(no messages in flight)");
  },
};
