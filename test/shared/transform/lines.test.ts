import { Readable } from 'node:stream';
import { createGunzip, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type LineReader, readLines, type SourceLine } from '#shared/transform/lines.ts';

async function collect(reader: LineReader): Promise<SourceLine[]> {
  const lines: SourceLine[] = [];
  for await (const line of reader) lines.push(line);
  return lines;
}

/** `bytes` cut into chunks at the given offsets. */
function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.filter((cut) => cut > 0 && cut < bytes.length))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  return chunks;
}

const textsOf = (lines: SourceLine[]) => lines.map((line) => line.line);

describe('readLines', () => {
  it('splits on newlines, numbers lines from 1 and reads a last line without a newline', async () => {
    const lines = await collect(readLines(Readable.from([Buffer.from('{"a":1}\n{"b":2}\n{"c":3}')])));
    expect(lines).toEqual([
      { line: '{"a":1}', lineNumber: 1, invalidUtf8: false, bytes: 7 },
      { line: '{"b":2}', lineNumber: 2, invalidUtf8: false, bytes: 7 },
      { line: '{"c":3}', lineNumber: 3, invalidUtf8: false, bytes: 7 },
    ]);
  });

  it('does not invent a line after a final newline, and reads nothing from empty input', async () => {
    expect(textsOf(await collect(readLines(Readable.from([Buffer.from('{}\n')]))))).toEqual(['{}']);
    const empty = readLines(Readable.from([Buffer.alloc(0)]));
    expect(await collect(empty)).toEqual([]);
    expect(empty.lineCount).toBe(0);
  });

  it('drops the \\r of CRLF endings, also when \\r and \\n arrive in different chunks', async () => {
    const reader = readLines(
      Readable.from([Buffer.from('{"a":1}\r'), Buffer.from('\n{"b":2}\r\n{"c"'), Buffer.from(':3}\r\n')]),
    );
    const lines = await collect(reader);
    expect(textsOf(lines)).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
    expect(lines.map((line) => line.bytes)).toEqual([7, 7, 7]);
    expect(reader.bytesRead).toBe(27);
  });

  it('skips blank and whitespace-only lines but counts them, keeping line numbers true to the file', async () => {
    const reader = readLines(Readable.from([Buffer.from('\n{"a":1}\n   \n\t\r\n{"b":2}\n\n')]));
    const lines = await collect(reader);
    expect(lines.map((line) => [line.lineNumber, line.line])).toEqual([
      [2, '{"a":1}'],
      [5, '{"b":2}'],
    ]);
    expect(reader.blankLines).toBe(4);
    expect(reader.lineCount).toBe(6);
  });

  it('yields a line that has text after leading spaces', async () => {
    expect(textsOf(await collect(readLines(Readable.from([Buffer.from('  {"a":1}\n x')]))))).toEqual([
      '  {"a":1}',
      ' x',
    ]);
  });

  it('drops a UTF-8 byte order mark at the start of the input only', async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const input = Buffer.concat([bom, Buffer.from('{"a":1}\n'), bom, Buffer.from('{"b":2}')]);
    const lines = await collect(readLines(Readable.from(chunked(input, [1, 2]))));
    expect(textsOf(lines)).toEqual(['{"a":1}', '\ufeff{"b":2}']);
  });

  it('decodes multi-byte characters cut by every possible chunk boundary', async () => {
    const text = '{"v":"é€😀日本"}\n{"w":"😀"}';
    const bytes = Buffer.from(text, 'utf8');
    for (let cut = 1; cut < bytes.length; cut++) {
      const lines = await collect(readLines(Readable.from(chunked(bytes, [cut]))));
      expect(textsOf(lines), `cut at byte ${cut}`).toEqual(text.split('\n'));
      expect(lines.every((line) => !line.invalidUtf8)).toBe(true);
    }
  });

  it('flags only the lines whose bytes are not valid UTF-8 and replaces the bad bytes', async () => {
    const input = Buffer.concat([
      Buffer.from('{"ok":1}\n{"bad":"'),
      Buffer.from([0xc3, 0x28, 0xff]),
      Buffer.from('"}\n{"ok":2}\n{"cut":"'),
      Buffer.from([0xe2, 0x82]),
      Buffer.from('"}'),
    ]);
    const lines = await collect(readLines(Readable.from([input])));
    expect(lines.map((line) => [line.line, line.invalidUtf8])).toEqual([
      ['{"ok":1}', false],
      ['{"bad":"\ufffd(\ufffd"}', true],
      ['{"ok":2}', false],
      ['{"cut":"\ufffd"}', true],
    ]);
    expect(lines[1]!.bytes).toBe(13);
  });

  it('accepts Uint8Array and string chunks', async () => {
    const lines = await collect(
      readLines(Readable.from([new Uint8Array([123, 125, 10]), '{"a":"é"}'], { objectMode: true })),
    );
    expect(textsOf(lines)).toEqual(['{}', '{"a":"é"}']);
  });

  it('reads a gzip stream', async () => {
    const records = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ i, text: `línea ${i} 😀` }));
    const gunzip = Readable.from([gzipSync(Buffer.from(`${records.join('\n')}\n`))]).pipe(createGunzip());
    const lines = await collect(readLines(gunzip));
    expect(textsOf(lines)).toEqual(records);
    expect(lines.at(-1)!.lineNumber).toBe(5000);
  });

  it('gives the same lines through batches() as line by line', async () => {
    const input = Buffer.from('{"a":1}\n\n{"b":2}\r\n{"c":3}');
    const chunks = chunked(input, [3, 9, 12]);
    const batched: SourceLine[] = [];
    for await (const batch of readLines(Readable.from(chunks)).batches()) batched.push(...batch);
    expect(batched).toEqual(await collect(readLines(Readable.from(chunks))));
  });

  it('splits any text in any chunking exactly like String.split (property)', async () => {
    const lineText = fc
      .string({ unit: 'grapheme', maxLength: 30 })
      .map((text) => text.replace(/[\r\n]/g, ''));
    await fc.assert(
      fc.asyncProperty(
        fc.array(lineText, { minLength: 1, maxLength: 20 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 10 }),
        async (texts, crlf, cuts) => {
          const input = Buffer.from(texts.join(crlf ? '\r\n' : '\n'), 'utf8');
          const reader = readLines(
            Readable.from(
              chunked(
                input,
                cuts.map((cut) => cut % (input.length + 1)),
              ),
            ),
          );
          const lines = await collect(reader);
          // Text after the last newline is a line only when it is not empty; the first line
          // loses a leading BOM, like any input.
          const fileLines = texts.at(-1) === '' ? texts.slice(0, -1) : texts;
          const expected = fileLines
            .map((text, i) => ({ text: i === 0 ? text.replace(/^\ufeff/, '') : text, lineNumber: i + 1 }))
            .filter(({ text }) => !/^[ \t]*$/.test(text));
          expect(lines.map((line) => [line.lineNumber, line.line])).toEqual(
            expected.map(({ text, lineNumber }) => [lineNumber, text]),
          );
          expect(
            lines.every((line) => !line.invalidUtf8 && line.bytes === Buffer.byteLength(line.line)),
          ).toBe(true);
          expect(reader.blankLines + lines.length).toBe(fileLines.length);
        },
      ),
      { numRuns: 500 },
    );
  });
});
