/**
 * Bytes a user gives a verb: UTF-8 text (`--value TEXT`), hex (`--hex HEX`), a file's bytes
 * (`--value-file F`) or standard input (`--value -` or `--value-file -`), exactly one of them. Files
 * and standard input are bounded: a size over the limit is refused before (or while) it is read,
 * and bytes are stored exactly as given (`echo` adds a newline; `printf` does not).
 */
import { readFile, stat } from "node:fs/promises";
import { CliFailure, usage } from "./errors.ts";

/** The bytes of file `path` (`-`: standard input), refused past `bytesMax` with "<flag>: <path> is N bytes; <limit>". */
export async function readBounded(path: string, bytesMax: number, flag: string, limit: string): Promise<Uint8Array> {
  if (path === "-") {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of process.stdin) {
      size += (chunk as Buffer).byteLength;
      if (size > bytesMax) {
        process.stdin.destroy();
        throw usage(`${flag} -: standard input holds more than ${bytesMax} bytes; ${limit}`);
      }
      chunks.push(chunk as Buffer);
    }
    return new Uint8Array(Buffer.concat(chunks));
  }
  try {
    const size = (await stat(path)).size;
    if (size > bytesMax) throw usage(`${flag}: ${path} is ${size} bytes; ${limit}`);
    return new Uint8Array(await readFile(path));
  } catch (e) {
    if (e instanceof CliFailure) throw e;
    throw usage(`${flag}: cannot read ${path}: ${(e as Error).message}`);
  }
}

export interface ValueInput {
  readonly value: string | undefined;
  readonly hex: string | undefined;
  readonly valueFile: string | undefined;
}

/** The one value given as `--value`, `--hex` or `--value-file` (`-`: standard input), at most `bytesMax` bytes. */
export async function valueBytes(v: ValueInput, bytesMax: number, what = "value"): Promise<Uint8Array> {
  const given = [v.value !== undefined && `--${what}`, v.hex !== undefined && "--hex", v.valueFile !== undefined && `--${what}-file`].filter((x) => x !== false);
  if (given.length > 1) throw usage(`give the ${what} once: ${given.join(", ")} are ${given.length} ways`);
  const limit = `a ${what} holds at most ${bytesMax} bytes`;
  const bytes =
    v.value === "-" || v.valueFile !== undefined
      ? await readBounded(v.valueFile ?? "-", bytesMax, v.valueFile !== undefined ? `--${what}-file` : `--${what}`, limit)
      : v.value !== undefined
        ? new TextEncoder().encode(v.value)
        : v.hex !== undefined
          ? parseHex(v.hex)
          : undefined;
  if (bytes === undefined) throw usage(`missing ${what}: give --${what} TEXT, --hex HEX, or --${what}-file FILE ('-' for standard input)`);
  if (bytes.byteLength > bytesMax) throw usage(`${what} of ${bytes.byteLength} bytes exceeds ${bytesMax}`);
  return bytes;
}

function parseHex(hex: string): Uint8Array {
  const h = hex.startsWith("0x") || hex.startsWith("0X") ? hex.slice(2) : hex;
  if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) throw usage(`not a hex string: ${JSON.stringify(hex.slice(0, 40))}`);
  return new Uint8Array(Buffer.from(h, "hex"));
}
