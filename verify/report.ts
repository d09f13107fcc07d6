/**
 * Plain-text summaries of the model checker and simulator runs, for the CLI (`worm check mc|sim`).
 * Pure string building: the caller prints.
 */
import { formatBallot } from "../paxos/ballot.ts";
import type { Request } from "../paxos/messages.ts";
import type { ModelCheckSummary } from "./mc/run.ts";
import type { LogPlayerCheckSummary } from "./mc/run-logplayer.ts";
import type { TxnModelCheckSummary } from "./mc/run-txn.ts";
import { FAULT_KINDS } from "./mc/models/logplayer-state.ts";
import { formatTrace } from "./mc/engine.ts";
import type { SimulationSummary } from "./sim/kernel/run.ts";

/** A request an acceptor served before the run, in the user's nouns. */
function describeSeed(r: Request): string {
  if (r.kind === "prepare") return `promised [${r.from}, ${r.to}) to ${formatBallot(r.ballot)}`;
  if (r.kind === "accept") return `accepted ${r.entries.map((e) => `[${e.index}]`).join("")} at ${formatBallot(r.ballot)}`;
  return r.kind;
}

function table(rows: readonly (readonly [string, string])[]): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n");
}

export function formatModelCheck(s: ModelCheckSummary | TxnModelCheckSummary): string {
  if ("txnModel" in s) {
    const m = s.txnModel;
    const actors = `${m.participants} participant(s) voting YES, ${m.coordinator ? "a coordinator reading the votes, " : ""}${m.recoverers} recoverer(s) resolving`;
    return formatRun(s, [
      ["model", `one transaction: ${actors}; ${m.acceptors} acceptors; ${m.attempts} capture(s) per settle or recovery`],
      ["faults", `loss, duplication, reordering, timeouts; ${m.crashes} acceptor crash(es)`],
    ]);
  }
  const m = s.model;
  return formatRun(s, [
    ["model", `${m.addresses === 1 ? "1 address" : `${m.addresses} addresses (range captures)`}, ${m.acceptors} acceptors, ${m.proposers} proposers, ${m.attempts} phase-1 round(s) each, ${m.readers} reader(s)${m.recover ? " that recover" : ""}`],
    ["faults", `loss, duplication, reordering; ${m.crashes} crash(es) (${m.persist} persist)${m.unreachable.length > 0 ? `; acceptor(s) ${m.unreachable.join(", ")} unreachable` : ""}`],
    ...(m.seed.some((reqs) => reqs.length > 0)
      ? [["seed", m.seed.map((reqs, a) => (reqs.length > 0 ? `acceptor ${a}: ${reqs.map(describeSeed).join(", ")}` : "")).filter((x) => x).join("; ")] as [string, string]]
      : []),
  ]);
}

function formatRun(s: ModelCheckSummary | TxnModelCheckSummary, model: readonly [string, string][]): string {
  const rows: [string, string][] = [
    ...model,
    ["states", String(s.states)],
    ["transitions", String(s.transitions)],
    ["depth", String(s.maxDepth)],
    ["time", `${(s.ms / 1000).toFixed(1)} s (${s.statesPerSecond} states/s)`],
    ["result", s.violation ? `VIOLATION of ${s.violation.property}` : s.complete ? "exhaustive, no violation" : "stopped at the state limit"],
  ];
  for (const p of s.sometimes) rows.push([`sometimes: ${p.name}`, p.hit ? "yes" : "NO (vacuous?)"]);
  const out = [table(rows)];
  if (s.violation) out.push("", s.violation.message, "", formatTrace(s.violation.trace));
  return out.join("\n");
}

/** The LogPlayer model's run (verify/mc/run-logplayer.ts). */
export function formatLogPlayerCheck(s: LogPlayerCheckSummary): string {
  const m = s.model;
  const log = m.log.map((t, p) => `${p}→${t.length > 0 ? t.join("+") : "fill"}`).join(" ");
  const kinds = FAULT_KINDS.filter((k) => m.faults[k] > 0).map((k) => `${k} ≤ ${m.faults[k]}`);
  const rows: [string, string][] = [
    ["model", `logplayer (config ${s.config}): ${m.shards} shards, log ${log}, ${m.players} player(s)${m.players > 1 ? (m.zombie ? ", the next may start while the one before runs (a zombie)" : ", the next after a player crash") : ""}; window ${m.windowMax}, queue ${m.queueMax}`],
    ["faults", m.faultsMax > 0 && kinds.length > 0 ? `${m.faultsMax} in all: ${kinds.join(", ")}` : "none"],
    ["states", String(s.states)],
    ["transitions", String(s.transitions)],
    ["depth", String(s.maxDepth)],
    ["time", `${(s.ms / 1000).toFixed(1)} s (${s.statesPerSecond} states/s)`],
    ["result", s.violation ? `VIOLATION of ${s.violation.property}` : s.complete ? "exhaustive, no violation" : "stopped at the state limit"],
    ...(s.complete ? [["liveness", `every run that ends (${s.terminalStates} final states) has every shard holding the log filtered to it`] as [string, string]] : []),
  ];
  for (const p of s.sometimes) rows.push([`sometimes: ${p.name}`, p.hit ? "yes" : "NO (vacuous?)"]);
  const out = [table(rows)];
  if (s.violation) out.push("", s.violation.message, "", formatTrace(s.violation.trace));
  return out.join("\n");
}

export function formatSimulation(s: SimulationSummary): string {
  const rows: [string, string][] = [
    ["layer", s.layer],
    ["seeds", `${s.seeds} run, ${s.passed} passed, ${s.failures.length} failed`],
    ["operations", String(s.operations)],
    ["events", String(s.events)],
    ["virtual time", `${(s.virtualMs / 1000).toFixed(0)} s`],
    ["wall time", `${(s.ms / 1000).toFixed(1)} s`],
  ];
  for (const [k, v] of Object.entries(s.probes)) rows.push([`probe ${k}`, String(v)]);
  for (const [k, v] of Object.entries(s.buggify)) rows.push([`buggify ${k}`, String(v)]);
  for (const [k, v] of Object.entries(s.outcomes)) rows.push([`outcome ${k}`, String(v)]);
  const out = [table(rows)];
  for (const f of s.failures) out.push("", `seed ${f.seed} FAILED:`, ...f.violations, `replay: ${f.replay}`);
  return out.join("\n");
}
