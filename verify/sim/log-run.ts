/**
 * `runLogSimulation`: many seeds of the shared-log simulation (verify/sim/log-world.ts), for the
 * CLI (`worm check sim --layer log`) and the tests.
 */
import { buggifyFired, withSimulation } from "../runtime/buggify.ts";
import { Prng } from "../runtime/prng.ts";
import { LOG_ALL_FAULTS, LOG_WORLD_DEFAULTS, type LogFaults, type LogWorldOptions } from "./log-options.ts";
import { runLogWorld } from "./log-world.ts";
import type { RunResult } from "./options.ts";
import { type SeedsOptions, type SimulationProgress, type SimulationSummary, runSeeds } from "./run.ts";

export interface LogSimulationOptions extends SeedsOptions, Partial<Omit<LogWorldOptions, "seed" | "faults">> {
  readonly faults?: LogFaults;
}

export const logReplayCommand = (seed: number): string =>
  `npm run worm -- check sim --layer log --seeds ${seed}..${seed}   (or: node --import tsx verify/sim/main.ts --layer log --seed ${seed})`;

/** Run one seed of the log simulation inside a simulation context (buggify live). */
export function runLogSeed(seed: number, options: Partial<Omit<LogWorldOptions, "seed">> = {}): RunResult & { readonly buggify: ReadonlyMap<string, number> } {
  const buggifyPrng = new Prng((seed ^ 0x1b873593) >>> 0);
  return withSimulation(seed, buggifyPrng, () => ({ ...runLogWorld({ ...options, seed }), buggify: buggifyFired() }));
}

export function runLogSimulation(options: LogSimulationOptions, onProgress?: (p: SimulationProgress) => void): SimulationSummary {
  const { seeds, stopOnFailure, now, ...world } = options;
  return runSeeds({ seeds, stopOnFailure, now }, (seed) => runLogSeed(seed, { ...LOG_WORLD_DEFAULTS, faults: LOG_ALL_FAULTS, ...world }), logReplayCommand, onProgress);
}
