/**
 * `worm check mc` and `worm check sim`: the verifier from the command line (verify/README.md).
 * Exit 0 when clean, 1 when a checker found a violation (the report says which, and how to replay).
 */
import { Command, Flag } from "effect/cli";
import type { Progress } from "../../verify/mc/engine.ts";
import { MC_CONFIGS, type McConfigName, runModelCheck } from "../../verify/mc/run.ts";
import { LOGPLAYER_CONFIGS, type LogPlayerConfigName, runLogPlayerCheck } from "../../verify/mc/run-logplayer.ts";
import { TXN_MC_CONFIGS, type TxnMcConfigName, runTxnModelCheck } from "../../verify/mc/run-txn.ts";
import { formatLogPlayerCheck, formatModelCheck, formatSimulation } from "../../verify/report.ts";
import { SIM_LAYERS } from "../../verify/sim/layers.ts";
import { CliFailure, EXIT, task, usage } from "./errors.ts";
import { withDefaultShown } from "./flags.ts";
import { Progress as Bar, StatusLine, printJson, printLine } from "./output.ts";

const json = Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("print one JSON document"));

function count(raw: string, what: string, min: number): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw usage(`--${what} must be a whole number ≥ ${min}, not ${JSON.stringify(raw)}`);
  return n;
}

/** States between two looks at the clock for the progress line (the checker runs without yielding). */
const MC_PROGRESS_EVERY = 2_000;

const thousands = (n: number) => n.toLocaleString("en-US");

/** "checking: 1,234,567 states (depth 14, frontier 45,678), 150,000 states/s, 8.2 s", with a bar when --states-max bounds the run. */
function mcProgress(p: Progress, statesMax: number | undefined): string {
  const rate = p.ms > 0 ? ` ${thousands(Math.round((p.states / p.ms) * 1_000))} states/s,` : "";
  const text = `${thousands(p.states)} states (depth ${p.depth}, frontier ${thousands(p.frontier)}),${rate} ${(p.ms / 1_000).toFixed(1)} s`;
  if (statesMax === undefined) return `checking: ${text}`;
  const width = 20;
  const full = Math.min(width, Math.round((p.states / statesMax) * width));
  return `checking ${"█".repeat(full)}${"░".repeat(width - full)} ${Math.min(100, Math.floor((p.states / statesMax) * 100))}% of --states-max: ${text}`;
}

/** The models `--model` names, each with its configurations and the one it explores by default. */
const MC_MODELS = {
  wor: { what: "write-once registers", configs: MC_CONFIGS, byDefault: "full" },
  txn: { what: "one WormTX transaction over them", configs: TXN_MC_CONFIGS, byDefault: "small" },
  logplayer: { what: "LogPlayer's delivery", configs: LOGPLAYER_CONFIGS, byDefault: "full" },
} as const;
const MODEL_NAMES = Object.keys(MC_MODELS) as (keyof typeof MC_MODELS)[];

const mc = Command.make(
  "mc",
  {
    model: Flag.String("model").pipe(withDefaultShown(MODEL_NAMES.map((m) => `${m} (${MC_MODELS[m].what})`).join(", "), "wor")),
    config: Flag.optional(
      Flag.String("config").pipe(
        Flag.withDescription(MODEL_NAMES.map((m) => `for ${m} one of ${Object.keys(MC_MODELS[m].configs).join(", ")} (default ${MC_MODELS[m].byDefault})`).join("; ")),
      ),
    ),
    participants: Flag.optional(Flag.String("participants").pipe(Flag.withDescription("txn: participants voting YES"))),
    recoverers: Flag.optional(Flag.String("recoverers").pipe(Flag.withDescription("txn: recoverers resolving the transaction"))),
    acceptors: Flag.optional(Flag.String("acceptors").pipe(Flag.withDescription("acceptors in the model (default 3)"))),
    proposers: Flag.optional(Flag.String("proposers").pipe(Flag.withDescription("proposers in the model (default 2)"))),
    attempts: Flag.optional(Flag.String("attempts").pipe(Flag.withDescription("phase-1 rounds each proposer may start"))),
    crashes: Flag.optional(Flag.String("crashes").pipe(Flag.withDescription("acceptor crashes allowed per run"))),
    statesMax: Flag.optional(Flag.String("states-max").pipe(Flag.withDescription("stop after this many distinct states"))),
    progress: Flag.Boolean("progress").pipe(
      Flag.withDescription("show progress on stderr even when it is not a terminal (one line a second; on a terminal it always shows)"),
      Flag.withDefault(false),
    ),
    json,
  },
  (c) =>
    task(async () => {
      if (!(c.model in MC_MODELS)) throw usage(`--model must be one of ${MODEL_NAMES.join(", ")}, not ${JSON.stringify(c.model)}`);
      const model = MC_MODELS[c.model as keyof typeof MC_MODELS];
      const config = c.config._tag === "Some" ? c.config.value : model.byDefault;
      if (!(config in model.configs)) throw usage(`--config must be one of ${Object.keys(model.configs).join(", ")} (--model ${c.model}), not ${JSON.stringify(config)}`);
      if (c.model === "logplayer") return logPlayerCheck(config as LogPlayerConfigName, c);
      const txn = c.model === "txn";
      const pick = (o: { _tag: string; value?: string }, what: string, min: number) => (o._tag === "Some" ? { [what]: count(o.value!, what, min) } : {});
      if (txn && c.proposers._tag === "Some") throw usage("--proposers is a flag of the wor model (the txn model has --participants and --recoverers)");
      if (!txn && (c.participants._tag === "Some" || c.recoverers._tag === "Some")) throw usage("--participants and --recoverers are flags of the txn model");
      const overrides = {
        ...pick(c.acceptors, "acceptors", 1),
        ...pick(c.attempts, "attempts", 1),
        ...pick(c.crashes, "crashes", 0),
        ...(txn ? { ...pick(c.participants, "participants", 1), ...pick(c.recoverers, "recoverers", 0) } : pick(c.proposers, "proposers", 1)),
      };
      const statesMax = c.statesMax._tag === "Some" ? count(c.statesMax.value, "states-max", 1) : undefined;
      const line = new StatusLine(process.stderr.isTTY === true || c.progress);
      const run = { ...overrides, ...(statesMax !== undefined ? { statesMax } : {}), now: () => performance.now(), progressEvery: MC_PROGRESS_EVERY };
      const progress = (p: Progress) => line.update(() => mcProgress(p, statesMax));
      const summary = txn
        ? runTxnModelCheck({ ...TXN_MC_CONFIGS[config as TxnMcConfigName], ...run }, progress)
        : runModelCheck({ ...MC_CONFIGS[config as McConfigName], ...run }, progress);
      line.finish();
      if (c.json) printJson(summary);
      else printLine(formatModelCheck(summary));
      if (summary.violation) throw new CliFailure(`model check found a violation of ${summary.violation.property}`, EXIT.operational);
    }),
).pipe(
  Command.withDescription(
    "Explore every interleaving of the register core (acceptors, proposers running the real operations, faults), with --model txn of one WormTX transaction over it, or with --model logplayer of LogPlayer's delivery (shards, a player and a zombie, faults), and check the invariants",
  ),
);

/** `worm check mc --model logplayer`: its configurations fix their bounds (the register model's flags do not apply). */
function logPlayerCheck(
  config: LogPlayerConfigName,
  c: { readonly acceptors: { _tag: string }; readonly proposers: { _tag: string }; readonly attempts: { _tag: string }; readonly crashes: { _tag: string }; readonly participants: { _tag: string }; readonly recoverers: { _tag: string }; readonly statesMax: { _tag: string; value?: string }; readonly progress: boolean; readonly json: boolean },
): void {
  const foreign = (["acceptors", "proposers", "attempts", "crashes", "participants", "recoverers"] as const).filter((f) => c[f]._tag === "Some");
  if (foreign.length > 0) throw usage(`--${foreign[0]} is a flag of another model; --model logplayer takes --config (${Object.keys(LOGPLAYER_CONFIGS).join(", ")})`);
  const statesMax = c.statesMax._tag === "Some" ? count(c.statesMax.value!, "states-max", 1) : undefined;
  const line = new StatusLine(process.stderr.isTTY === true || c.progress);
  const summary = runLogPlayerCheck(
    config,
    { ...(statesMax !== undefined ? { statesMax } : {}), now: () => performance.now(), progressEvery: MC_PROGRESS_EVERY },
    (p) => line.update(() => mcProgress(p, statesMax)),
  );
  line.finish();
  if (c.json) printJson(summary);
  else printLine(formatLogPlayerCheck(summary));
  if (summary.violation) throw new CliFailure(`model check found a violation of ${summary.violation.property}`, EXIT.operational);
}

const LAYER_NAMES = Object.keys(SIM_LAYERS);

const sim = Command.make(
  "sim",
  {
    seeds: Flag.String("seeds").pipe(withDefaultShown("inclusive seed range A..B (or one seed)", "1..1000")),
    layer: Flag.String("layer").pipe(
      withDefaultShown(`${[...LAYER_NAMES, "all"].join(", ")}: ${LAYER_NAMES.map((l) => `${l} is ${SIM_LAYERS[l]!.title}`).join("; ")}`, "wor"),
    ),
    json,
  },
  (c) =>
    task(async () => {
      const m = /^(\d+)(?:\.\.(\d+))?$/.exec(c.seeds);
      if (!m) throw usage(`--seeds must be A..B or N, not ${JSON.stringify(c.seeds)}`);
      const from = Number(m[1]);
      const to = Number(m[2] ?? m[1]);
      if (to < from) throw usage(`--seeds ${c.seeds}: the range is empty`);
      if (c.layer !== "all" && !(c.layer in SIM_LAYERS)) throw usage(`--layer must be one of ${[...LAYER_NAMES, "all"].join(", ")}, not ${JSON.stringify(c.layer)}`);
      const layers = c.layer === "all" ? LAYER_NAMES : [c.layer];
      const summaries = layers.map((layer) => {
        const bar = new Bar(`simulating ${layer}`, to - from + 1);
        const summary = SIM_LAYERS[layer]!.simulate({ seeds: { from, to }, now: () => performance.now() }, c.json ? undefined : (p) => bar.set(p.done));
        bar.finish();
        if (!c.json) printLine(formatSimulation(summary));
        return summary;
      });
      if (c.json) printJson(summaries.length === 1 ? summaries[0] : summaries);
      const failed = summaries.find((s) => s.failures.length > 0);
      if (failed) throw new CliFailure(`simulation of ${failed.layer} failed at seed ${failed.failures[0]!.seed}; replay: ${failed.failures[0]!.replay}`, EXIT.operational);
    }),
).pipe(Command.withDescription(`Run whole-stack simulations of a layer (--layer ${[...LAYER_NAMES, "all"].join(", ")}) with faults, one per seed; a failure prints its replay command`));

export const checkCommand = Command.make("check").pipe(Command.withSubcommands([mc, sim]));
