/**
 * The shared log's commands: the real log generators (append, read, fill, seal) and the real
 * `SequencerCore`, their register steps answered by each process's own WOR client core, token asks
 * answered by a sequencer process (the one named with `seq=`, else the log's newest live one).
 */
import { FILL_BYTES, APPEND_DEFAULTS, type LogResult, READ_DEFAULTS, SEQUENCER_DEFAULTS, SequencerCore, type SlotRead, append, fill, readSettled, readSlots, seal } from "./adapter.ts";
import type { Args, CommandTable } from "./interpreter.ts";
import { toInt } from "./interpreter.ts";
import { op } from "./register-commands.ts";
import * as fmt from "./format.ts";
import type { Proc } from "./procs.ts";
import type { World } from "./world.ts";

/** Log timing in the scenarios' virtual milliseconds: short, so a transcript stays short. */
const SCENARIO_LOG = {
  retryMs: 20,
  /** A reader waits this long on an unwritten slot below the tail before it fills it. */
  holeTimeoutMs: 300,
  pollMs: 100,
  /** The sequencer seals a fully issued segment this long after its last token. */
  sealAfterMs: 100,
  askTimeoutMs: 1_000,
} as const;

const utf8 = new TextEncoder();

function logMeta(w: World, log: string): { segmentSize: number } {
  const meta = w.spaces.get(log);
  if (meta?.kind !== "log") throw new Error(`${log} is not a log (create ${log} kind=log)`);
  return meta;
}

function readConfig(w: World, log: string) {
  return { ...READ_DEFAULTS, ...SCENARIO_LOG, log, segmentSize: logMeta(w, log).segmentSize };
}

function slotText(log: string, reads: readonly SlotRead[]): string {
  return fmt.runs(log, reads.map((s) => ({ index: s.slot, text: s.kind === "entry" ? fmt.entry(s.entry) : s.kind })), " ");
}

function result<T>(r: LogResult<T>, ok: (v: T) => string): string {
  return r.ok ? ok(r.value) : `failed ${r.failure.code}: ${r.failure.message}`;
}

/** `read P LOG A..B [settled]` on a log: what each slot holds now, or (settled) waiting for slots in
 *  flight and filling holes past the hole timeout. */
export function logRead(w: World, p: Proc, a: Args, log: string, from: number, to: number): void {
  const settled = a.flag("settled");
  const cfg = readConfig(w, log);
  const what = `read ${fmt.span(log, from, to)}${settled ? " settled" : ""}`;
  op(w, a, () => w.startTask(p, what, settled ? readSettled(cfg, from, to) : readSlots(cfg, from, to), (r) => result(r, (v) => slotText(log, v))));
}

export const LOG_COMMANDS: CommandTable = {
  sequencer: (w, a) => {
    const name = a.word("name");
    const log = a.word("log");
    const address = a.opt("address");
    a.done();
    if (w.procs.get(name)?.alive) throw new Error(`sequencer: ${name} is running`);
    const { segmentSize } = logMeta(w, log);
    const p = w.proc(name);
    p.sequencer = new SequencerCore({
      ...SEQUENCER_DEFAULTS,
      ...SCENARIO_LOG,
      log,
      owner: `${name}.${p.id}`,
      segmentSize,
      sealChunkMax: 2 * segmentSize,
      ...(address !== undefined ? { address } : {}),
    });
    w.say(`${name} serves ${log} as owner ${name}.${p.id} (it recovers at the first ask)`);
  },
  append: (w, a) => {
    const p = w.proc(a.word("process"));
    const log = a.word("log");
    const key = a.opt("key");
    const via = a.opt("seq");
    const streams = a.opt("streams")?.split(",") ?? [];
    const payload = a.text("payload");
    logMeta(w, log);
    const m = key === undefined ? undefined : /^(.+)#(\d+)$/.exec(key);
    if (!m) throw new Error("append: key=CLIENT#SEQ is required");
    if (via !== undefined) p.via = via;
    const input = { key: { client: m[1]!, seq: toInt(m[2]!, "key seq") }, streams, payload: utf8.encode(payload) };
    const cfg = { ...APPEND_DEFAULTS, retryMs: SCENARIO_LOG.retryMs, log };
    const what = `append ${key} ${JSON.stringify(payload)}`;
    op(w, a, () => w.startTask(p, what, append(cfg, input), (r) => result(r, (v) => `slot ${v.slot}${v.duplicate ? " (a duplicate: the key was there already)" : ""}`)));
  },
  fill: (w, a) => {
    const p = w.proc(a.word("process"));
    const log = a.word("log");
    const slot = a.int("slot");
    const cfg = readConfig(w, log);
    op(w, a, () => w.startTask(p, `fill ${log}[${slot}]`, fill(cfg, slot), (r) => result(r, (v) => slotText(log, [v]))));
  },
  seal: (w, a) => {
    const p = w.proc(a.word("process"));
    const log = a.word("log");
    const [first, end] = a.range("segments");
    const cfg = { space: log, segmentSize: logMeta(w, log).segmentSize, retryMs: readConfig(w, log).retryMs, preemptRetriesMax: SEQUENCER_DEFAULTS.preemptRetriesMax, sealChunkMax: 2 * logMeta(w, log).segmentSize };
    const found: { index: number; text: string }[] = [];
    const gen = seal(cfg, first, end - 1, FILL_BYTES, (slot: number, v: Uint8Array) => found.push({ index: slot, text: fmt.value(v) }));
    op(w, a, () => w.startTask(p, `seal ${log} segments [${first},${end})`, gen, (r) => result(r, () => fmt.runs(log, found, " "))));
  },
  status: (w, a) => {
    const name = a.word("sequencer");
    a.done();
    const s = w.procs.get(name)?.sequencer;
    if (!s) throw new Error(`status: ${name} is no sequencer`);
    const st = s.status;
    w.say(`${name}: ${st.phase}, next slot ${st.next}, ${st.captured} slots captured ahead, sealed below segment ${st.sealedBelow}, ${st.recoveries === 1 ? "1 recovery" : `${st.recoveries} recoveries`}`);
  },
};
