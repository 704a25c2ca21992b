import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FEEDS } from '#shared/schema/columns.ts';
import { columnsMarkdown } from '#shared/schema/markdown.ts';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

function between(start: string, end: string): string {
  const from = readme.indexOf(start);
  const to = readme.indexOf(end);
  if (from === -1 || to === -1 || to < from) {
    throw new Error(`README.md needs the markers ${start} ... ${end}, in that order`);
  }
  return readme.slice(from + start.length, to).trim();
}

describe('README column tables', () => {
  it.each(FEEDS)(
    'match the %s schema (regenerate with columnsMarkdown after changing columns.ts)',
    (feed) => {
      expect(between(`<!-- columns:${feed}:start -->`, `<!-- columns:${feed}:end -->`)).toBe(
        columnsMarkdown(feed),
      );
    },
  );
});
