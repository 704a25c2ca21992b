/** The two SQL dialects every statement in `shared/sql` is written for. */
export type Dialect = 'redshift' | 'postgres';
