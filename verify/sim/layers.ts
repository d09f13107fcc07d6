/**
 * The simulated layers, by name (`worm check sim --layer <name>`, `verify/sim/main.ts --layer <name>`):
 * each a world under worlds/. Adding a world is adding its file and one line here.
 */
import { type SimLayer, simLayer } from "./kernel/run.ts";
import { kvWorld } from "./worlds/kv.ts";
import { kvTxnWorld } from "./worlds/kvtxn.ts";
import { logWorld } from "./worlds/log.ts";
import { logPlayerWorld } from "./worlds/logplayer.ts";
import { smrWorld } from "./worlds/smr.ts";
import { txnWorld } from "./worlds/txn.ts";
import { reconfigWorld, worWorld } from "./worlds/wor.ts";

export const SIM_LAYERS: Readonly<Record<string, SimLayer>> = {
  wor: simLayer(worWorld),
  log: simLayer(logWorld),
  smr: simLayer(smrWorld),
  txn: simLayer(txnWorld),
  logplayer: simLayer(logPlayerWorld),
  kv: simLayer(kvWorld),
  kvtxn: simLayer(kvTxnWorld),
  reconfig: simLayer(reconfigWorld),
};
