import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const ci = readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8');

/** The commands (first words up to a comment) of the README's first ```sh block that runs `npm ci`. */
function quickStartCommands(): string[] {
  const block = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)]
    .map((match) => match[1]!)
    .find((text) => /^npm ci\b/m.test(text));
  if (!block) throw new Error('The README has no ```sh block with npm ci');
  return block
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter(Boolean);
}

describe('CI runs what the README tells a person to run', () => {
  it("runs the quick start's install and test commands exactly", () => {
    const commands = quickStartCommands();
    const ciCommands = ci
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => /^npm /.test(line));
    for (const command of commands.filter((line) => /^npm (ci|test)\b/.test(line))) {
      expect(ciCommands).toContain(command);
    }
    expect(commands).toEqual(expect.arrayContaining(['npm ci', 'npm test']));
  });
});

describe("the README's contents line", () => {
  it('links every section (## heading) in order, by the anchor GitHub gives it', () => {
    const anchor = (heading: string) =>
      `#${heading
        .toLowerCase()
        .replace(/[^\w\s-]/g, '')
        .replace(/\s/g, '-')}`;
    const sections = [...readme.matchAll(/^## (.+)$/gm)].map((match) => anchor(match[1]!));
    const contents = /^Contents: ([\s\S]*?)\n\n/m.exec(readme)?.[1] ?? '';
    const links = [...contents.matchAll(/\]\((#[^)]+)\)/g)].map((match) => match[1]);
    expect(links).toEqual(sections);
  });
});
