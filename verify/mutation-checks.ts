/**
 * The checkers as one command, for mutation testing (`npm run mutation`, StrykerJS's command runner:
 * stryker.config.json). Each mutant of paxos/ and wor/core/ is judged by the model checker and the
 * simulator alone — not the unit tests — so the mutation score measures the checkers' strength
 * (docs/ARCHITECTURE.md §5). A mutant is killed when a check finds a violation, when a model no
 * longer reaches a `sometimes` property the unmutated code reaches (it went vacuous), when a
 * simulator run no longer sees an operation kind succeed that the unmutated code saw succeed (a
 * liveness loss, e.g. trims never acknowledged), or when it throws. Cheapest checks first; the run stops at the first that fails and exits non-zero.
 *
 *   tsx verify/mutation-checks.ts --baseline FILE   record which `sometimes` each model reaches
 *   MUTATION_BASELINE=FILE tsx verify/mutation-checks.ts   judge the code as it is now
 */
import { readFileSync, writeFileSync } from "node:fs";
import { MC_CONFIGS, type McConfigName, runModelCheck } from "./mc/run.ts";
import { SIM_LAYERS } from "./sim/layers.ts";

const MODELS: readonly McConfigName[] = ["minority", "small", "reads", "recover"];
type Baseline = Record<string, readonly string[]>;

/** The `sometimes` properties a model reached, or undefined when it found a violation. */
function modelCheck(config: McConfigName): readonly string[] | undefined {
  const s = runModelCheck(MC_CONFIGS[config]);
  return s.violation === undefined ? s.sometimes.filter((p) => p.hit).map((p) => p.name) : undefined;
}

/** The simulator's success probes: an operation kind that succeeded (`….ok`, hundreds per run).
 *  Rare probes and failure probes are left out: a mutant may shift the schedule, and with it which
 *  rare events and failures happen, without being wrong. */
const SUCCESS_PROBE = /\.ok$/;

/** The success probes a simulator run hit, or undefined when it found a violation. */
function simulated(layer: string, from: number, to: number): readonly string[] | undefined {
  const s = SIM_LAYERS[layer]!.simulate({ seeds: { from, to } });
  return s.failures.length === 0 ? Object.keys(s.probes).filter((p) => SUCCESS_PROBE.test(p) && s.probes[p]! > 0) : undefined;
}

/** The simulator runs the judge makes, by name (`layer:from..to`). */
const SIM_RUNS: readonly (readonly [string, number, number])[] = [
  ["wor", 1, 100],
  ["log", 1, 60],
  ["wor", 101, 250],
];
const simName = ([layer, from, to]: readonly [string, number, number]) => `sim ${layer} ${from}..${to}`;

function judge(baseline: Baseline): string | undefined {
  const mc = (config: McConfigName): string | undefined => {
    const hit = modelCheck(config);
    if (!hit) return `mc ${config}: a violation`;
    const lost = (baseline[config] ?? []).filter((p) => !hit.includes(p));
    return lost.length > 0 ? `mc ${config}: no longer reaches ${lost.join(", ")}` : undefined;
  };
  const sim = (run: readonly [string, number, number]): string | undefined => {
    const hit = simulated(...run);
    if (!hit) return `${simName(run)}: a violation`;
    const lost = (baseline[simName(run)] ?? []).filter((p) => !hit.includes(p));
    return lost.length > 0 ? `${simName(run)}: no longer sees ${lost.join(", ")}` : undefined;
  };
  const [worFirst, log, worNext] = SIM_RUNS;
  const checks = [() => mc("minority"), () => mc("small"), () => sim(worFirst!), () => mc("reads"), () => sim(log!), () => mc("recover"), () => sim(worNext!)];
  for (const c of checks) {
    const killed = c();
    if (killed) return killed;
  }
  return undefined;
}

function main(args: readonly string[]): void {
  const at = args.indexOf("--baseline");
  if (at >= 0) {
    const file = args[at + 1];
    if (!file) throw new Error("--baseline needs a file");
    const baseline: Baseline = {};
    for (const m of MODELS) {
      const hit = modelCheck(m);
      if (!hit) throw new Error(`mc ${m} finds a violation in the unmutated code`);
      baseline[m] = hit;
    }
    for (const run of SIM_RUNS) {
      const hit = simulated(...run);
      if (!hit) throw new Error(`${simName(run)} finds a violation in the unmutated code`);
      baseline[simName(run)] = hit;
    }
    writeFileSync(file, `${JSON.stringify(baseline, null, 2)}\n`);
    console.log(`baseline: ${file}`);
    return;
  }
  const file = process.env.MUTATION_BASELINE;
  const killed = judge(file ? (JSON.parse(readFileSync(file, "utf8")) as Baseline) : {});
  console.log(killed ? `killed by ${killed}` : "survived every check");
  if (killed) process.exitCode = 1;
}

main(process.argv.slice(2));
