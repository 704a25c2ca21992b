/** The two SQL dialects every statement in `shared/sql` is written for. */
export type Dialect = 'redshift' | 'postgres';

/** The part of the warehouse port that creating or upgrading the tables needs (a `SqlRunner` has it). */
export interface DdlRunner {
  readonly dialect: Dialect;
  transaction(statements: readonly string[]): Promise<unknown>;
  query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string): Promise<T[]>;
}
