/**
 * The LogPlayer model (verify/mc/models/logplayer.ts): its small configurations are exhaustive and
 * clean (safety in every state; every run that ends has delivered the whole log), and each planted
 * bug is caught, with the shortest trace, by the config the bug needs (verify/mc/run-logplayer.ts).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatTrace } from "../../verify/mc/engine.ts";
import { type LogPlayerConfigName, runLogPlayerCheck } from "../../verify/mc/run-logplayer.ts";
import { type PlantedBug, plantBugForTest } from "../../verify/runtime/planted.ts";

const now = () => performance.now();

/** The sometimes-properties each clean config must reach (the rest belong to other configs). */
const REACHED: Record<Exclude<LogPlayerConfigName, "full">, readonly string[]> = {
  zombie: ["every shard holds the whole log filtered to it", "a zombie player was fenced", "a zombie's batch was refused", "a watermark moved an idle shard", "the log was trimmed"],
  network: ["every shard holds the whole log filtered to it", "a shard rewound a player", "a shard dropped a duplicate", "a shard was re-read from the log"],
  crash: ["every shard holds the whole log filtered to it", "a shard crash lost an unsynced write", "a shard dropped a duplicate"],
};

for (const config of Object.keys(REACHED) as (keyof typeof REACHED)[]) {
  test(`LogPlayer model, ${config} config: exhaustive, no violation`, { timeout: 120_000 }, () => {
    const s = runLogPlayerCheck(config, { now });
    console.log(`# mc logplayer ${config}: ${s.states} states, ${(s.ms / 1000).toFixed(1)} s`);
    assert.equal(s.violation, undefined, s.violation && `${s.violation.message}\n${formatTrace(s.violation.trace)}`);
    assert.equal(s.complete, true);
    const hit = new Set(s.sometimes.filter((p) => p.hit).map((p) => p.name));
    for (const name of REACHED[config]) assert.ok(hit.has(name), `never reached: ${name}`);
  });
}

const SAFETY = "delivery invariants";
const LIVENESS = /^eventually every shard holds the whole log filtered to it/;
const CAUGHT: readonly { bug: PlantedBug; config: LogPlayerConfigName; property: string | RegExp; message: RegExp }[] = [
  { bug: "applyWithoutPrevious", config: "network", property: SAFETY, message: /skipped its entry at position/ },
  { bug: "ackBeforePersist", config: "crash", property: SAFETY, message: /holds shard \d at \d+, but the shard made only -?\d+ durable/ },
  { bug: "ignoreEpoch", config: "zombie", property: SAFETY, message: /applied items of fenced epoch/ },
  // Liveness: the clean runs above prove every run that ends holds the whole log; this one stalls.
  { bug: "rewindWithoutReconnect", config: "network", property: LIVENESS, message: /ended without it/ },
];

for (const { bug, config, property, message } of CAUGHT) {
  test(`LogPlayer model catches the planted bug ${bug} (${config} config)`, { timeout: 60_000 }, () => {
    const s = plantBugForTest(bug, () => runLogPlayerCheck(config, { now }));
    assert.ok(s.violation, `${bug} went unnoticed in ${s.states} states`);
    if (typeof property === "string") assert.equal(s.violation.property, property);
    else assert.match(s.violation.property, property);
    assert.match(s.violation.message, message);
    console.log(`# ${bug}: caught after ${s.states} states, a trace of ${s.violation.trace.length - 1} steps: ${s.violation.message}`);
  });
}
