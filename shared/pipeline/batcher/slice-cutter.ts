const LF = 10;

/**
 * Cuts a byte stream into slices of whole lines. A slice ends at the first newline at or
 * after `sliceBytes` bytes from its start (the last slice at the end of the input), so where
 * slices end depends only on the content, never on how the stream happened to deliver it.
 * That keeps staged parts byte-identical between runs. Each slice is a new buffer of its own,
 * so it can be transferred to another thread.
 */
export class SliceCutter {
  private pieces: Buffer[] = [];
  private size = 0;
  /** Bytes of the pending input already searched for the cutting newline. */
  private searched = 0;

  constructor(private readonly sliceBytes: number) {
    if (!Number.isSafeInteger(sliceBytes) || sliceBytes < 1) {
      throw new RangeError(`sliceBytes must be a positive integer, got ${sliceBytes}.`);
    }
  }

  /** Adds input; returns the slices it completes, in order. */
  push(piece: Buffer): Uint8Array[] {
    if (piece.length === 0) return [];
    this.pieces.push(piece);
    this.size += piece.length;
    const slices: Uint8Array[] = [];
    while (this.size >= this.sliceBytes) {
      const newline = this.findNewline(Math.max(this.sliceBytes - 1, this.searched));
      if (newline === -1) {
        this.searched = this.size;
        break;
      }
      slices.push(this.take(newline + 1));
    }
    return slices;
  }

  /** What is left at the end of the input (a last line without a newline, or a short slice). */
  end(): Uint8Array | undefined {
    return this.size > 0 ? this.take(this.size) : undefined;
  }

  private findNewline(from: number): number {
    let base = 0;
    for (const piece of this.pieces) {
      if (base + piece.length > from) {
        const at = piece.indexOf(LF, Math.max(0, from - base));
        if (at !== -1) return base + at;
      }
      base += piece.length;
    }
    return -1;
  }

  private take(length: number): Uint8Array {
    const out = new Uint8Array(length);
    let offset = 0;
    while (offset < length) {
      const piece = this.pieces[0]!;
      const part = Math.min(piece.length, length - offset);
      out.set(part === piece.length ? piece : piece.subarray(0, part), offset);
      offset += part;
      if (part === piece.length) this.pieces.shift();
      else this.pieces[0] = piece.subarray(part);
    }
    this.size -= length;
    this.searched = 0;
    return out;
  }
}
