/**
 * CSV that Amazon Redshift (`COPY ... FORMAT AS CSV`) and PostgreSQL (`COPY ... (FORMAT csv)`)
 * read to the same values.
 *
 * The rules, and why:
 * - Every non-null value is quoted, with `"` doubled inside. Quoting is what lets a value hold
 *   `,`, `\n`, `\r\n` and a lone `\r` in both systems ("Data format parameters": "To
 *   automatically escape delimiters, newline characters, and carriage returns, enclose the
 *   field in the character specified by the QUOTE parameter"). In CSV mode neither system
 *   treats `\` as special (Redshift: "CSV can't be used with ... ESCAPE"; PostgreSQL's ESCAPE
 *   defaults to the quote character), so backslashes are written as they are.
 * - NULL is the unquoted marker `CSV_NULL_MARKER`, declared to both systems. An empty field
 *   cannot be NULL here: Redshift loads an empty field into VARCHAR as '' unless EMPTYASNULL
 *   is given, and EMPTYASNULL ("EMPTYASNULL and NULL AS '' produce the same behavior",
 *   "Data conversion parameters") also turns a quoted "" into NULL, so '' and NULL would
 *   merge.
 * - PostgreSQL never treats a quoted field as NULL. Redshift's documentation does not say
 *   whether quoting protects a field equal to the NULL AS string, and its EMPTYASNULL
 *   nulls a quoted "" (reported by loaders that relied on it), so we assume it does not.
 *   The marker is therefore a string no column kind other than free text can produce, and a
 *   free-text value equal to it is refused (`CsvEncodingError`) rather than silently loaded
 *   as NULL in Redshift and as text in PostgreSQL. The transform must never emit it.
 * - U+0000 is refused: Redshift ends the record at a NUL ("NULL AS": "COPY treats it as an
 *   end of record (EOR) and terminates the record") and PostgreSQL rejects it in text.
 * - Strings in JavaScript always encode to valid UTF-8 (a lone surrogate becomes U+FFFD), so
 *   ACCEPTINVCHARS is not used: it would silently rewrite data. Redshift accepts the
 *   non-characters U+FFFE/U+FFFF/U+FDD0.. as valid when ACCEPTINVCHARS is absent
 *   ("Multibyte character load errors").
 * - JSON text for SUPER/jsonb is just a value: quoted like any other. Both systems parse the
 *   unquoted field content as JSON ("Using COPY to load data into SUPER columns", section
 *   "Copying data from text and CSV").
 */

/**
 * Written, unquoted, for NULL. ASCII without `\`, `'`, `"` or `,` so the SQL literal needs no
 * escaping in either dialect (Redshift processes backslash escapes in NULL AS, e.g. '\0').
 */
export const CSV_NULL_MARKER = '~NULL~';

/**
 * Timestamps arrive as `YYYY-MM-DD HH:MM:SS.ffffff`. An explicit TIMEFORMAT (rather than
 * 'auto') makes a malformed timestamp fail the load instead of being guessed; "the seconds
 * (SS) field also supports fractional seconds up to a microsecond level of detail"
 * ("DATEFORMAT and TIMEFORMAT strings").
 */
const REDSHIFT_TIMEFORMAT = 'YYYY-MM-DD HH:MI:SS';

/**
 * Everything after `FROM '<manifest>' IAM_ROLE '<arn>' MANIFEST` that concerns the file
 * format. Sources, by Redshift Database Developer Guide page title:
 * - `FORMAT AS CSV QUOTE AS '"'`, `DELIMITER AS ','`: "Data format parameters" (CSV, QUOTE AS,
 *   DELIMITER; the defaults, spelled out so nobody has to remember them).
 * - `NULL AS`: "Data conversion parameters" (NULL AS). EMPTYASNULL and BLANKSASNULL are left
 *   out on purpose (they would turn '' and '   ' into NULL).
 * - `TIMEFORMAT`: "Data conversion parameters" (TIMEFORMAT), "DATEFORMAT and TIMEFORMAT
 *   strings".
 * - `ENCODING AS UTF8`: "Data conversion parameters" (ENCODING; UTF8 is the default).
 * - `GZIP`: "Data format parameters" / "Compressing your data files".
 * - Not used: ACCEPTINVCHARS (see above), TRUNCATECOLUMNS (the transform already cuts text at
 *   a UTF-8 boundary and must never cut key columns; a silent cut would hide a bug), ESCAPE
 *   and REMOVEQUOTES (not allowed with CSV), IGNOREHEADER (no header is written).
 */
export const REDSHIFT_COPY_FORMAT_OPTIONS = [
  `FORMAT AS CSV QUOTE AS '"'`,
  `DELIMITER AS ','`,
  `NULL AS '${CSV_NULL_MARKER}'`,
  `TIMEFORMAT '${REDSHIFT_TIMEFORMAT}'`,
  'ENCODING AS UTF8',
  'GZIP',
].join(' ');

/**
 * Options for PostgreSQL's `COPY <table> FROM STDIN <options>` reading the same (gunzipped)
 * bytes. PostgreSQL documents that "a NULL is output as the NULL parameter string and is not
 * quoted, while a non-NULL value matching the NULL parameter string is quoted", and reads the
 * same way (SQL COPY, "CSV Format").
 */
export const POSTGRES_COPY_OPTIONS = `(FORMAT csv, DELIMITER ',', QUOTE '"', NULL '${CSV_NULL_MARKER}', ENCODING 'UTF8')`;

/**
 * Redshift's limit on one input line: "The maximum size of a single input row from any source
 * is 4 MB" ("Data sources", "COPY").
 */
export const REDSHIFT_MAX_ROW_BYTES = 4 * 1024 * 1024;

/** A value that cannot be written so that both warehouses read it back unchanged. */
export class CsvEncodingError extends Error {
  override readonly name = 'CsvEncodingError';
  constructor(
    /** Zero-based position of the offending value in the row. */
    readonly column: number,
    detail: string,
  ) {
    super(`Cannot encode CSV value in column ${column}: ${detail}`);
  }
}

const QUOTES = /"/g;

/**
 * One CSV line, trailing `\n` included. `values` are already canonical text for their column
 * types; `null` is SQL NULL. Throws `CsvEncodingError` for U+0000 and for a value equal to
 * `CSV_NULL_MARKER`.
 */
export function encodeCsvRow(values: readonly (string | null)[]): string {
  if (values.length === 0) {
    throw new CsvEncodingError(0, 'a row needs at least one value, got an empty array.');
  }
  let line = '';
  for (let column = 0; column < values.length; column++) {
    const value = values[column];
    if (column > 0) line += ',';
    if (value === null) {
      line += CSV_NULL_MARKER;
      continue;
    }
    if (typeof value !== 'string') {
      throw new CsvEncodingError(
        column,
        `expected a string or null, got ${typeof value}. Convert values to canonical text before encoding.`,
      );
    }
    if (value.indexOf('\u0000') !== -1) {
      throw new CsvEncodingError(
        column,
        'the value contains U+0000 (NUL), which neither Redshift nor PostgreSQL can store. ' +
          'The transform should have removed it; check the transform for this column.',
      );
    }
    if (value === CSV_NULL_MARKER) {
      throw new CsvEncodingError(
        column,
        `the value equals the NULL marker ${CSV_NULL_MARKER}, which Redshift would load as NULL. ` +
          'The transform should quarantine or adjust this value.',
      );
    }
    line += value.indexOf('"') === -1 ? `"${value}"` : `"${value.replace(QUOTES, '""')}"`;
  }
  return `${line}\n`;
}
