/**
 * Splits a byte stream (a decompressed landing file) into lines without holding the input in
 * memory: complete lines are decoded straight out of each chunk, and only a line that spans
 * chunks is concatenated, once, when its newline arrives. Splitting happens on bytes, so a
 * multi-byte character cut by a chunk boundary is never decoded in halves.
 *
 * Lines end at `\n`; a `\r` before it is dropped; the last line needs no newline. A UTF-8 byte
 * order mark at the very start is dropped. Blank or whitespace-only lines (space, tab) carry no
 * record, so they are not yielded but counted in `blankLines`: every line of the input is
 * either yielded or counted, and `lineNumber` still matches the file.
 */
import { isUtf8 } from 'node:buffer';

export interface SourceLine {
  /** The line decoded as UTF-8, invalid sequences replaced by U+FFFD, without `\r\n` / `\n`. */
  readonly line: string;
  /** 1-based position in the input, counting blank lines too. */
  readonly lineNumber: number;
  /** The raw bytes were not valid UTF-8 (pass on to the transform, which counts it). */
  readonly invalidUtf8: boolean;
  /** Raw bytes of the line, without its terminator. */
  readonly bytes: number;
}

const LF = 10;
const CR = 13;
const SPACE = 32;
const TAB = 9;

const OPEN_BRACE = 0x7b;

function isBlank(bytes: Buffer, start: number, end: number): boolean {
  if (start < end && bytes[start] === OPEN_BRACE) return false;
  for (let i = start; i < end; i++) {
    const byte = bytes[i];
    if (byte !== SPACE && byte !== TAB) return false;
  }
  return true;
}

/** Synchronous core of readLines, for callers that already hold chunks. */
export class LineSplitter {
  /** Lines seen so far, blank ones included. */
  lineCount = 0;
  blankLines = 0;
  bytesRead = 0;
  private pending: Buffer[] = [];
  private atStart = true;

  /** Appends the complete lines of `chunk` (and any line it finishes) to `out`. */
  push(chunk: Buffer, out: SourceLine[]): void {
    this.bytesRead += chunk.length;
    let newline = chunk.indexOf(LF);
    if (newline === -1) {
      if (chunk.length > 0) this.pending.push(chunk);
      return;
    }
    let start = 0;
    if (this.pending.length > 0) {
      this.pending.push(chunk.subarray(0, newline));
      const joined = Buffer.concat(this.pending);
      this.pending = [];
      this.emit(joined, 0, joined.length, false, out);
      start = newline + 1;
      newline = chunk.indexOf(LF, start);
    }
    if (newline !== -1) {
      // Newlines are ASCII, so if the run of complete lines is valid UTF-8 every line in it is:
      // one native check per chunk instead of one per line.
      const allValid = isUtf8(chunk.subarray(start, chunk.lastIndexOf(LF)));
      do {
        this.emit(chunk, start, newline, allValid, out);
        start = newline + 1;
        newline = chunk.indexOf(LF, start);
      } while (newline !== -1);
    }
    if (start < chunk.length) this.pending.push(chunk.subarray(start));
  }

  /** Appends the last line when the input did not end with a newline. */
  end(out: SourceLine[]): void {
    if (this.pending.length === 0) return;
    const joined = Buffer.concat(this.pending);
    this.pending = [];
    this.emit(joined, 0, joined.length, false, out);
  }

  private emit(bytes: Buffer, start: number, end: number, knownValid: boolean, out: SourceLine[]): void {
    this.lineCount++;
    let from = start;
    let to = end;
    if (to > from && bytes[to - 1] === CR) to--;
    if (this.atStart) {
      this.atStart = false;
      if (to - from >= 3 && bytes[from] === 0xef && bytes[from + 1] === 0xbb && bytes[from + 2] === 0xbf)
        from += 3;
    }
    if (isBlank(bytes, from, to)) {
      this.blankLines++;
      return;
    }
    out.push({
      line: bytes.toString('utf8', from, to),
      lineNumber: this.lineCount,
      invalidUtf8: knownValid ? false : !isUtf8(bytes.subarray(from, to)),
      bytes: to - from,
    });
  }
}

export type ByteChunks = AsyncIterable<Buffer | Uint8Array | string>;

function toBuffer(chunk: Buffer | Uint8Array | string): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  return typeof chunk === 'string'
    ? Buffer.from(chunk, 'utf8')
    : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * The lines of a stream. Iterate it once; afterwards `blankLines`, `lineCount` and `bytesRead`
 * describe the whole input. `batches()` yields the same lines one chunk's worth at a time, for
 * hot loops where one await per line costs too much.
 */
export class LineReader implements AsyncIterable<SourceLine> {
  private readonly splitter = new LineSplitter();

  constructor(private readonly source: ByteChunks) {}

  get blankLines(): number {
    return this.splitter.blankLines;
  }

  get lineCount(): number {
    return this.splitter.lineCount;
  }

  get bytesRead(): number {
    return this.splitter.bytesRead;
  }

  async *batches(): AsyncGenerator<SourceLine[], void, undefined> {
    for await (const chunk of this.source) {
      const lines: SourceLine[] = [];
      this.splitter.push(toBuffer(chunk), lines);
      if (lines.length > 0) yield lines;
    }
    const last: SourceLine[] = [];
    this.splitter.end(last);
    if (last.length > 0) yield last;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<SourceLine, void, undefined> {
    for await (const lines of this.batches()) yield* lines;
  }
}

/** Lines of `stream` (e.g. a gunzip stream); see LineReader. */
export function readLines(stream: ByteChunks): LineReader {
  return new LineReader(stream);
}
