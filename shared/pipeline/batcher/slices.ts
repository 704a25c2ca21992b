import { CsvEncodingError, encodeCsvRow } from '../../format/csv.ts';
import { columnsOf, type Feed } from '../../schema/columns.ts';
import { LineSplitter, type SourceLine } from '../../transform/lines.ts';
import type { Adjustments, QuarantineFailure } from '../../transform/outcome.ts';
import { createTransformer, type Transformer } from '../../transform/transformer.ts';

/**
 * Whole lines of one landing file (decompressed), cut at a newline; only a file's last slice
 * may end without one. Slices are self-contained, so any thread can turn one into CSV.
 */
export interface SliceRequest {
  readonly feed: Feed;
  readonly batchId: string;
  readonly bytes: Uint8Array;
  /** The slice starts the file (a UTF-8 byte order mark is dropped only there). */
  readonly fileStart: boolean;
}

export interface RejectedLine extends QuarantineFailure {
  /** 1-based within the slice. */
  readonly lineNumber: number;
  readonly line: string;
}

/**
 * What the slice's lines became, in line order. Rows are not de-duplicated yet: that needs
 * the whole batch, so it happens where the results are applied, one slice after another.
 */
export interface SliceResult {
  /** Lines in the slice, blank ones included (to number the next slice's lines). */
  readonly lines: number;
  readonly blankLines: number;
  /**
   * Per row: its key, where its CSV line (UTF-8, so the bytes can move between threads
   * without a copy) ends in `csv`, its time and upload time.
   */
  readonly keys: string[];
  readonly csv: Uint8Array;
  readonly rowEnds: Uint32Array;
  readonly times: string[];
  readonly uploadTimes: (string | null)[];
  /** Rows that changed on the way in: [row index, adjustments]. */
  readonly adjusted: [number, Adjustments][];
  readonly rejected: RejectedLine[];
}

/** Turns slices into CSV rows and rejections; keeps one transformer per feed. */
export function createSliceProcessor(): (request: SliceRequest) => SliceResult {
  const transformers = new Map<Feed, { transform: Transformer; columns: readonly string[] }>();
  return (request) => {
    let feedTools = transformers.get(request.feed);
    if (!feedTools) {
      feedTools = {
        transform: createTransformer(request.feed),
        columns: columnsOf(request.feed).map((column) => column.name),
      };
      transformers.set(request.feed, feedTools);
    }
    const { transform, columns } = feedTools;
    const lines = splitSlice(request);
    const keys: string[] = [];
    const ends: number[] = [];
    const times: string[] = [];
    const uploadTimes: (string | null)[] = [];
    const adjusted: [number, Adjustments][] = [];
    const rejected: RejectedLine[] = [];
    const csv = new Utf8Builder(request.bytes.length + 1024);
    for (const { line, lineNumber: numberWithOffset, invalidUtf8 } of lines.lines) {
      const lineNumber = numberWithOffset - lines.offset;
      const result = transform(line, invalidUtf8);
      if (!result.ok) {
        rejected.push({ reason: result.reason, detail: result.detail, lineNumber, line });
        continue;
      }
      const values = result.values;
      values.push(request.batchId);
      let row: string;
      try {
        row = encodeCsvRow(values);
      } catch (error) {
        if (!(error instanceof CsvEncodingError)) throw error;
        const column = columns[error.column] ?? `#${error.column}`;
        rejected.push({
          reason: 'invalid_type',
          detail: `${column} cannot be written to CSV: ${error.message}`,
          lineNumber,
          line,
        });
        continue;
      }
      for (const _ in result.adjustments) {
        adjusted.push([keys.length, result.adjustments]);
        break;
      }
      keys.push(result.key);
      times.push(result.time);
      uploadTimes.push(result.uploadTime);
      ends.push(csv.append(row));
    }
    return {
      lines: lines.count,
      blankLines: lines.blank,
      keys,
      csv: csv.bytes(),
      rowEnds: Uint32Array.from(ends),
      times,
      uploadTimes,
      adjusted,
      rejected,
    };
  };
}

function splitSlice(request: SliceRequest): {
  lines: SourceLine[];
  count: number;
  blank: number;
  /** Subtract from each line's `lineNumber`. */
  offset: number;
} {
  const splitter = new LineSplitter();
  const lines: SourceLine[] = [];
  // The splitter drops a byte order mark before its first line. A slice from the middle of a
  // file gets one synthetic blank line first, so its real first line is never treated as the
  // file's start; that line is taken off the counts again.
  const offset = request.fileStart ? 0 : 1;
  if (offset === 1) splitter.push(NEWLINE, lines);
  const bytes = request.bytes;
  splitter.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), lines);
  splitter.end(lines);
  return { lines, count: splitter.lineCount - offset, blank: splitter.blankLines - offset, offset };
}

const NEWLINE = Buffer.from('\n');

/** Appends strings as UTF-8 into one buffer that owns its memory (so it can be transferred). */
class Utf8Builder {
  private buffer: Buffer;
  private used = 0;

  constructor(initialBytes: number) {
    this.buffer = Buffer.allocUnsafeSlow(initialBytes);
  }

  /** Returns the end offset of the appended text. */
  append(text: string): number {
    // No UTF-16 unit takes more than 3 UTF-8 bytes.
    const most = text.length * 3;
    if (this.used + most > this.buffer.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(this.buffer.length * 2, this.used + most));
      this.buffer.copy(grown, 0, 0, this.used);
      this.buffer = grown;
    }
    this.used += this.buffer.write(text, this.used, 'utf8');
    return this.used;
  }

  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.used);
  }
}
