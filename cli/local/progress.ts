/** Where a progress line is drawn: stderr, when it is a terminal (`process.stderr` fits). */
export interface ProgressStream {
  readonly isTTY?: boolean;
  /** Width of the terminal; read at each draw, so a resized window is followed. */
  readonly columns?: number;
  write(text: string): unknown;
}

/** A person cannot read faster than this; drawing more often only costs CPU on a long run. */
export const PROGRESS_INTERVAL_MS = 250;

/** Carriage return, then erase the whole line (ECMA-48 EL 2). */
const REDRAW = '\r\x1b[2K';

/**
 * One status line, redrawn in place while a long run works, at most every
 * PROGRESS_INTERVAL_MS. Only on a terminal: in a log file or CI each redraw would be one more
 * line, so anywhere else it writes nothing at all.
 */
export class ProgressLine {
  private lastDrawnMs = Number.NEGATIVE_INFINITY;
  private shown = false;

  constructor(
    private readonly stream: ProgressStream | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.stream?.isTTY === true;
  }

  /** Shows `text` unless the line was drawn less than PROGRESS_INTERVAL_MS ago (`force` draws anyway). */
  update(text: string, force = false): void {
    if (!this.enabled) return;
    const now = this.now();
    if (!force && now - this.lastDrawnMs < PROGRESS_INTERVAL_MS) return;
    this.lastDrawnMs = now;
    // One column less than the width: writing the last column makes some terminals wrap.
    // A terminal that does not know its size (a pty without one) says 0 columns.
    const width = Math.max(10, (this.stream?.columns || 80) - 1);
    const line = text.length > width ? `${text.slice(0, width - 3)}...` : text;
    this.stream?.write(`${REDRAW}${line}`);
    this.shown = true;
  }

  /** Erases the line, so what is printed next starts at the left on an empty line. */
  clear(): void {
    if (!this.shown) return;
    this.stream?.write(REDRAW);
    this.shown = false;
    this.lastDrawnMs = Number.NEGATIVE_INFINITY;
  }
}

/** stderr's writes with the terminal's current width, as a ProgressStream. */
export function terminalStream(
  write: (text: string) => void,
  terminal: { readonly isTTY?: boolean; readonly columns?: number },
): ProgressStream {
  return {
    get isTTY() {
      return terminal.isTTY;
    },
    get columns() {
      return terminal.columns;
    },
    write,
  };
}
