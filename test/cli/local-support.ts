import type { CliIo } from '#cli/io.ts';

/** A CLI io that keeps what a command prints; `text()` is everything on stderr. */
export function capture(cwd: string) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { stdout: (text) => out.push(text), stderr: (text) => err.push(text), env: {}, cwd };
  return { io, out, err, text: () => err.join('') };
}

/** An `interrupted` promise for a CliIo and the `stop` that settles it: Ctrl-C, played by a test. */
export function interruption() {
  let stop!: () => void;
  const interrupted = new Promise<void>((resolve) => {
    stop = resolve;
  });
  return { interrupted, stop };
}

/** Yesterday (UTC): inside the batcher's default look-back window. */
export const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
