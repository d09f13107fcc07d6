/**
 * The damage mark (wor/README.md "A damaged data directory is refused"): a small file beside
 * LevelDB's that records damage found while serving (a block of addresses that failed its checks
 * when it was read), so that the refusal sticks. A load checks only what a restart reads (the
 * markers, the witness, the spaces); without the mark, a restarted acceptor would serve again until
 * it next read the damaged block. Written and synced before the node stops; never removed by us.
 */
import { type FileHandle, open, readFile } from "node:fs/promises";
import { join } from "node:path";

const DAMAGE_FILE = "DAMAGED";

/** What a previous run found damaged in the storage in `dir`, or undefined. */
export async function readDamageMark(dir: string): Promise<string | undefined> {
  try {
    return (await readFile(join(dir, DAMAGE_FILE), "utf8")).trim() || "it was found damaged before";
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** Record `why` (synced). */
export async function writeDamageMark(dir: string, why: string): Promise<void> {
  let file: FileHandle | undefined;
  try {
    file = await open(join(dir, DAMAGE_FILE), "w");
    await file.writeFile(`${why}\n`);
    await file.sync();
  } finally {
    await file?.close();
  }
}
