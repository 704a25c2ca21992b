import { type Column, columnsOf, type Feed } from './columns.ts';

/** Inline code, safe inside a table cell. */
function code(text: string): string {
  return `\`${text.replaceAll('|', '\\|')}\``;
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|');
}

function sourceOf(column: Column): string {
  if (column.sourceKey === '*') return 'every key without a column';
  return column.kind === 'epoch_ms' ? `${code(column.sourceKey)} (epoch ms)` : code(column.sourceKey);
}

function notesOf(column: Column): string {
  const notes = [column.description];
  if (column.key && column.kind === 'string')
    notes.push('Required; never cut (an oversized value is quarantined).');
  else if (column.key) notes.push('Required; part of the de-duplication key.');
  else if (column.required) notes.push('Required.');
  return cell(notes.join(' '));
}

/**
 * The README's column table for one feed, generated from the schema so the two cannot drift
 * (test/shared/schema/readme.test.ts compares them). Cells are padded the way Biome formats
 * Markdown tables, so `npm run format` leaves the README as generated.
 */
export function columnsMarkdown(feed: Feed): string {
  const header = ['Column', 'Redshift type', 'PostgreSQL type', 'Source key', 'Notes'];
  const rows = columnsOf(feed).map((column) => [
    code(column.name),
    code(column.redshiftType),
    code(column.postgresType),
    sourceOf(column),
    notesOf(column),
  ]);
  const widths = header.map((title, i) => Math.max(3, title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((text, i) => text.padEnd(widths[i]!)).join(' | ')} |`;
  const rule = `| ${widths.map((width) => '-'.repeat(width)).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
