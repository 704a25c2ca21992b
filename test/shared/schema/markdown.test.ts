import { describe, expect, it } from 'vitest';
import { columnsOf, FEEDS } from '#shared/schema/columns.ts';
import { columnsMarkdown } from '#shared/schema/markdown.ts';

/** Trimmed cells of one table row, honouring `\|` escapes. */
function cells(row: string): string[] {
  return row
    .slice(2, -2)
    .split(/(?<!\\) \| /)
    .map((cell) => cell.trim().replaceAll('\\|', '|'));
}

describe('columnsMarkdown', () => {
  it.each(FEEDS)('has a header and one five-cell row per %s column, in table order', (feed) => {
    const [header, rule, ...rows] = columnsMarkdown(feed).split('\n');
    expect(cells(header!)).toEqual(['Column', 'Redshift type', 'PostgreSQL type', 'Source key', 'Notes']);
    expect(rule).toMatch(/^\| -{3,} \| -{3,} \| -{3,} \| -{3,} \| -{3,} \|$/);
    // Padded like Biome's Markdown formatter, so every line of the table is equally long.
    expect(new Set([header, rule, ...rows].map((line) => line!.length)).size).toBe(1);
    const columns = columnsOf(feed);
    expect(rows).toHaveLength(columns.length);
    rows.forEach((row, i) => {
      const column = columns[i]!;
      const [name, redshift, postgres, source, notes = ''] = cells(row!);
      expect(cells(row!)).toHaveLength(5);
      expect(name).toBe(`\`${column.name}\``);
      expect(redshift).toBe(`\`${column.redshiftType}\``);
      expect(postgres).toBe(`\`${column.postgresType}\``);
      expect(source).toContain(
        column.sourceKey === '*' ? 'every key without a column' : `\`${column.sourceKey}\``,
      );
      expect(notes).toContain(column.description);
      expect(notes.includes('Required')).toBe(column.required === true);
    });
  });

  it('marks epoch-millisecond sources and the never-cut key', () => {
    expect(columnsMarkdown('merge_ids')).toMatch(/\| `merge_time` \(epoch ms\) +\|/);
    expect(columnsMarkdown('events')).toMatch(/^\| `uuid` .*never cut/m);
  });
});
