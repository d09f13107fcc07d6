/**
 * The configuration a simulated process runs under (docs/ARCHITECTURE.md §3.5): following a newer
 * one as wor/node/grpc-link.ts does. Its slots move to the new acceptors (as many as `c` has), its client core starts
 * every round over (and preempts phase 2 under older captures), its watches forget what they heard,
 * its sessions end, and each slot's link comes back, or is down.
 */
import type { Configuration } from "../../../wor/core/configuration.ts";
import { probe } from "../../runtime/probe.ts";
import type { Kernel } from "./kernel.ts";
import type { SimProcess } from "./process.ts";

export function follow(k: Kernel, p: SimProcess, c: Configuration): void {
  if (c.epoch <= p.epoch || !p.alive) return;
  k.record(`${p.label} follows epoch ${c.epoch}`);
  probe("sim.process.followed");
  p.epoch = c.epoch;
  p.slots = c.acceptors.map((m) => m.id);
  p.wor.onReconfigured({ acceptors: c.acceptors.length, quorum: c.quorum });
  for (const w of p.watches.values()) w.learner.reconfigured(c.quorum);
  for (const a of k.acceptors) a.endSession(p.endpoint);
  for (let slot = 0; slot < p.slots.length; slot++) {
    if (k.reachable(p, p.acceptorOf(slot))) k.linkUp(p, slot);
    else p.wor.onLinkDown(slot, "down", k.now);
  }
  k.procs.settle(p);
}
