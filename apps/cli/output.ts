/**
 * Output of `worm`: aligned tables for people, one JSON document (`--json`) for programs, register
 * values shown as text when they are printable UTF-8 and as hex otherwise, and a progress bar on
 * long work when stdout is a terminal.
 */
import { formatBallot, type Ballot } from "../../paxos/ballot.ts";

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

const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The value as printable text, or undefined when it is not printable UTF-8. */
function asText(b: Uint8Array): string | undefined {
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

/**
 * A status line for work whose end is not known in advance: redrawn in place at most every
 * `ttyEveryMs` on a terminal; elsewhere (when asked for, e.g. `--progress` into a file) one line
 * at most every `lineEveryMs`. Silent when neither.
 */
export class StatusLine {
  private last = Number.NEGATIVE_INFINITY;
  private readonly tty: boolean;

  constructor(
    private readonly enabled: boolean,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly ttyEveryMs = 100,
    private readonly lineEveryMs = 1_000,
  ) {
    this.tty = stream.isTTY === true;
  }

  update(text: () => string): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < (this.tty ? this.ttyEveryMs : this.lineEveryMs)) return;
    this.last = now;
    this.stream.write(this.tty ? `\r\u001b[2K${text()}` : `${text()}\n`);
  }

  finish(): void {
    if (this.enabled && this.tty) this.stream.write("\r\u001b[2K");
  }
}
