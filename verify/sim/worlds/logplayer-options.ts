/** The LogPlayer simulator's knobs (worlds/logplayer.ts): the log world's (it runs inside) plus shards, players and their faults. */
import type { PlayerTuning } from "../../../apps/logplayer/core/player-core.ts";
import { LOG_ALL_FAULTS, LOG_NO_FAULTS, LOG_WORLD_DEFAULTS, type LogFaults, type LogWorldOptions } from "./log-options.ts";

export interface LogPlayerFaults extends LogFaults {
  /** Chance per fault tick that a shard crashes (its write in flight lost; restarted from its disk). */
  readonly shardCrash: number;
  /** Chance per fault tick that the player crashes (a new player claims the next epoch later). */
  readonly playerCrash: number;
  /** Chance per fault tick that the player freezes (a zombie: a new player takes over; it thaws later). */
  readonly playerFreeze: number;
  /** Chance per fault tick that a delivery stream breaks (both ends see it go; frames in flight may still land). */
  readonly streamBreak: number;
  /** Chance that a delivery frame or reply travels as a datagram (lost, duplicated, reordered), not on its stream. */
  readonly frameDisorder: number;
  /** Chance that a delivery frame or reply is sent twice. */
  readonly frameDuplicate: number;
}

const LOGPLAYER_ALL_FAULTS: LogPlayerFaults = {
  ...LOG_ALL_FAULTS,
  shardCrash: 0.01,
  playerCrash: 0.004,
  playerFreeze: 0.004,
  streamBreak: 0.01,
  frameDisorder: 0.2,
  frameDuplicate: 0.03,
};
export const LOGPLAYER_NO_FAULTS: LogPlayerFaults = { ...LOG_NO_FAULTS, shardCrash: 0, playerCrash: 0, playerFreeze: 0, streamBreak: 0, frameDisorder: 0, frameDuplicate: 0 };

export interface LogPlayerWorldOptions extends LogWorldOptions {
  readonly faults: LogPlayerFaults;
  readonly shards: number;
  /** The players' tuning: small windows, queues and timers, so batches, re-reads, watermarks, timeouts and trims happen in every run. */
  readonly player: PlayerTuning;
}

export const LOGPLAYER_WORLD_DEFAULTS: Omit<LogPlayerWorldOptions, "seed"> = {
  ...LOG_WORLD_DEFAULTS,
  faults: LOGPLAYER_ALL_FAULTS,
  appenders: 3,
  readers: 0,
  appendsPerAppender: 5,
  faultMs: 1_000,
  shards: 3,
  player: {
    windowMax: 4,
    windowBytesMax: 1 << 20,
    batchItemsMax: 3,
    batchBytesMax: 1 << 20,
    queueMax: 4,
    readChunkMax: 2,
    watermarkMs: 30,
    replyTimeoutMs: 150,
    reconnectMs: 20,
    startGraceMs: 60,
    trimEvery: 3,
  },
};

/** The player group: the space of the players' epochs. */
export const PLAYER_GROUP = "log-player";
