/**
 * Output of `worm`: aligned tables for people, one JSON document (`--json`) for programs, register
 * values shown as text when they are printable UTF-8 and as hex otherwise, and a progress bar on
 * long work when stdout is a terminal.
 */
import { formatBallot, type Ballot } from "../../paxos/ballot.ts";
import { usage } from "./errors.ts";

/** The npm scripts that run worm from a clone (`npm run worm -- …`, `npm run dev`). */
export const NPM_SCRIPTS: ReadonlySet<string> = new Set(["worm", "dev"]);

/** How the user runs worm, for the commands worm suggests: `npm run worm --` through a clone's npm scripts, else `worm`. */
export const wormCommand = (): string => (NPM_SCRIPTS.has(process.env.npm_lifecycle_event ?? "") ? "npm run worm --" : "worm");

export function printLine(text = ""): void {
  process.stdout.write(`${text}\n`);
}

/** One JSON document on stdout (bytes as hex strings, bigints as numbers). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, jsonReplacer)}\n`);
}

function jsonReplacer(_key: string, v: unknown): unknown {
  if (v instanceof Uint8Array) return toHex(v);
  if (typeof v === "bigint") return Number(v);
  if (v instanceof Map) return Object.fromEntries(v);
  return v;
}

/** Left-aligned columns, two spaces apart; the header underlined by nothing but its position. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The value as printable text, or undefined when it is not printable UTF-8. */
export function asText(b: Uint8Array): string | undefined {
  try {
    const s = utf8.decode(b);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
    return /[\u0000-\u0008\u000b-\u001f\u007f]/.test(s) ? undefined : s;
  } catch {
    return undefined;
  }
}

/** `"text"` for printable values, `0x…` otherwise; long values cut to `max` characters. */
export function showValue(b: Uint8Array, max = 80): string {
  const t = asText(b);
  const s = t !== undefined ? JSON.stringify(t) : `0x${toHex(b)}`;
  return s.length > max ? `${s.slice(0, max - 1)}… (${b.byteLength} bytes)` : s;
}

/** A value for JSON: hex always, text when printable. */
export function jsonValue(b: Uint8Array): { hex: string; text?: string; bytes: number } {
  const t = asText(b);
  return t !== undefined ? { hex: toHex(b), text: t, bytes: b.byteLength } : { hex: toHex(b), bytes: b.byteLength };
}

export const showBallot = (b: Ballot): string => formatBallot(b);

/** The bytes a user gave: UTF-8 text (`--value`) or hex (`--hex`), exactly one of them. */
export function inputBytes(text: string | undefined, hex: string | undefined, what = "value"): Uint8Array {
  if (text !== undefined && hex !== undefined) throw usage(`give the ${what} once: --${what} TEXT or --hex HEX, not both`);
  if (text !== undefined) return new TextEncoder().encode(text);
  if (hex !== undefined) return parseHex(hex);
  throw usage(`missing ${what}: give --${what} TEXT or --hex HEX`);
}

export function parseHex(hex: string): Uint8Array {
  const h = hex.startsWith("0x") || hex.startsWith("0X") ? hex.slice(2) : hex;
  if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) throw usage(`not a hex string: ${JSON.stringify(hex.slice(0, 40))}`);
  return new Uint8Array(Buffer.from(h, "hex"));
}

/** A progress bar on stdout, drawn only when stdout is a terminal; otherwise silent. */
export class Progress {
  private readonly enabled: boolean;
  private last = 0;
  private done = 0;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stdout,
  ) {
    this.enabled = stream.isTTY === true && total > 1;
  }

  tick(n = 1): void {
    this.done = Math.min(this.total, this.done + n);
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 80 && this.done < this.total) return;
    this.last = now;
    this.draw();
  }

  /** Set the absolute amount done. */
  set(done: number): void {
    this.done = 0;
    this.tick(done);
  }

  finish(): void {
    if (!this.enabled) return;
    this.stream.write("\r\u001b[2K");
  }

  private draw(): void {
    const width = Math.max(10, Math.min(40, (this.stream.columns ?? 80) - this.label.length - 20));
    const frac = this.total > 0 ? this.done / this.total : 1;
    const full = Math.round(frac * width);
    const bar = `${"█".repeat(full)}${"░".repeat(width - full)}`;
    this.stream.write(`\r${this.label} ${bar} ${Math.floor(frac * 100)}% (${this.done}/${this.total})`);
  }
}
