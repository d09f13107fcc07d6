/**
 * Model-checker benchmark: explores a WOR model configuration exhaustively and prints one JSON line.
 * Usage: node --import tsx bench/mc-wor.ts [config] (a name in MC_CONFIGS, verify/mc/run.ts; default full)
 */
import { MC_CONFIGS, type McConfigName, runModelCheck } from "../verify/mc/run.ts";

const name = (process.argv[2] ?? "full") as McConfigName;
const config = MC_CONFIGS[name];
if (!config) throw new Error(`unknown config ${name}; one of ${Object.keys(MC_CONFIGS).join(", ")}`);
const s = runModelCheck({ ...config, now: () => performance.now() }, (p) =>
  process.stderr.write(`\r${p.states} states, frontier ${p.frontier}, depth ${p.depth}, ${(p.ms / 1000).toFixed(1)} s   `),
);
process.stderr.write("\n");
console.log(
  JSON.stringify({
    bench: "mc-wor",
    config: name,
    states: s.states,
    transitions: s.transitions,
    depth: s.maxDepth,
    ms: Math.round(s.ms),
    statesPerSecond: s.statesPerSecond,
    complete: s.complete,
    violation: s.violation?.message ?? null,
    sometimes: Object.fromEntries(s.sometimes.map((p) => [p.name, p.hit])),
  }),
);
