/**
 * What every simulator world's long sweep asserts (the register layer, the log, the SMR, WormTX): no
 * seed failed (a failure is shown with its replay command), every seed ran, and the probes and
 * outcomes the sweep exists for were reached. It prints the sweep's figures first.
 */
import assert from "node:assert/strict";
import type { SimulationSummary } from "../../verify/sim/kernel/run.ts";

export interface Reached {
  /** Probes that must have fired at least once. */
  readonly probes: readonly string[];
  /** Outcomes that must have happened more than `outcomesAbove` times (default 0). */
  readonly outcomes: readonly string[];
  readonly outcomesAbove?: number;
}

export function assertCleanSweep(name: string, s: SimulationSummary, seeds: number, reached: Reached, shownProbes: (probe: string) => boolean = () => true): void {
  console.log(`# ${name}: ${s.seeds} seeds, ${s.operations} operations, ${s.events} events, ${(s.virtualMs / 1000).toFixed(0)} virtual s in ${(s.ms / 1000).toFixed(1)} s`);
  console.log(`# probes: ${JSON.stringify(Object.fromEntries(Object.entries(s.probes).filter(([p]) => shownProbes(p))))}`);
  console.log(`# outcomes: ${JSON.stringify(s.outcomes)}`);
  assert.deepEqual(
    s.failures.map((f) => `${f.seed}: ${f.violations.join("; ")}\n${f.replay}`),
    [],
  );
  assert.equal(s.seeds, seeds);
  for (const p of reached.probes) assert.ok((s.probes[p] ?? 0) > 0, `probe ${p} never reached`);
  const above = reached.outcomesAbove ?? 0;
  for (const o of reached.outcomes) assert.ok((s.outcomes[o] ?? 0) > above, above === 0 ? `no ${o} outcome` : `too few ${o} outcomes`);
}
