/**
 * `runLogPlayerCheck`: the LogPlayer model (models/logplayer.ts) under a named configuration, for
 * the CLI (`worm check mc --model logplayer --config <name>`) and the tests. Pure apart from the
 * clock reading passed in; progress goes to a callback.
 */
import { type CheckSummary, type Progress, type SearchOptions, check } from "./engine.ts";
import { logPlayerModel } from "./models/logplayer.ts";
import { LOGPLAYER_MODEL_DEFAULTS, type LogPlayerModelOptions } from "./models/logplayer-state.ts";

const NONE = { lose: 0, duplicate: 0, reorder: 0, crashShard: 0, breakStream: 0, timeout: 0, crashPlayer: 0 } as const;

/**
 * Named configurations, all over 2 shards. Each is exhaustive within its bounds; the faults are
 * bounded in all (`faultsMax`) and per kind. Together they cover a zombie, loss, duplication,
 * reordering, stream breaks, timeouts and crashes of shards and players.
 *  - full: the target (< 60 s): a player and a zombie (a second player that may start at
 *    any moment while the first runs on), one fault: a message lost, duplicated or reordered, a
 *    stream broken, or a shard crash. A player crash is a zombie that never acts again, and a
 *    timeout a stream break its player notices at once: both are among these runs.
 *  - zombie: a player and a zombie, no faults: seconds (tests; what catches ignoring the epoch).
 *  - network: one player, one lost, duplicated or reordered message, or a broken or timed-out
 *    stream: seconds (tests; what catches applying without the previous-position check).
 *  - crash: a shard or the player crashes, and a new player takes over after a player crash:
 *    seconds (tests; what catches acking before persisting).
 */
export const LOGPLAYER_CONFIGS = {
  full: { ...LOGPLAYER_MODEL_DEFAULTS, log: [[0, 1]], players: 2, zombie: true, faults: { ...NONE, lose: 1, duplicate: 1, reorder: 1, crashShard: 1, breakStream: 1 }, faultsMax: 1 },
  zombie: { ...LOGPLAYER_MODEL_DEFAULTS, log: [[0], [1]], players: 2, zombie: true, faults: NONE, faultsMax: 0 },
  network: { ...LOGPLAYER_MODEL_DEFAULTS, log: [[0], [0], [1]], players: 1, faults: { ...NONE, lose: 1, duplicate: 1, reorder: 1, breakStream: 1, timeout: 1 }, faultsMax: 1 },
  crash: { ...LOGPLAYER_MODEL_DEFAULTS, log: [[0], [1], [0, 1]], players: 2, zombie: false, faults: { ...NONE, crashShard: 1, crashPlayer: 1 }, faultsMax: 1 },
} as const satisfies Record<string, LogPlayerModelOptions>;

export type LogPlayerConfigName = keyof typeof LOGPLAYER_CONFIGS;

export interface LogPlayerCheckSummary extends CheckSummary {
  readonly config: LogPlayerConfigName;
  readonly model: LogPlayerModelOptions;
}

export function runLogPlayerCheck(
  config: LogPlayerConfigName,
  options: SearchOptions = {},
  onProgress?: (p: Progress) => void,
): LogPlayerCheckSummary {
  const model = logPlayerModel(LOGPLAYER_CONFIGS[config]);
  return { ...check(model, options, onProgress), config, model: model.options };
}
