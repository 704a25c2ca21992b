/** What a command may touch of the outside world; tests pass their own. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Resolves when the user asks to stop (Ctrl-C); long-running commands race against it. */
  readonly interrupted?: Promise<void>;
  /**
   * What stderr is when it is a terminal (`process.stderr`): long runs draw a progress line
   * there. Absent or `isTTY` false (a file, a pipe, tests, CI): no progress lines at all.
   */
  readonly terminal?: { readonly isTTY?: boolean; readonly columns?: number };
}

/** A failure the user can fix; printed without a stack trace. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type Command = (argv: string[], io: CliIo) => Promise<number>;
