#!/usr/bin/env node
/**
 * `worm`: the WormSpace command line (apps/cli/README.md). This file stays tiny: it turns on Node's
 * compile cache (compiled code of worm and its dependencies kept between runs, under the system's
 * temporary directory; NODE_DISABLE_COMPILE_CACHE=1 turns it off) before anything else loads.
 */
import * as nodeModule from "node:module";

nodeModule.enableCompileCache?.(); // Node ≥ 22.1
await import("../main.ts");
