export * from './lines.ts';
export * from './outcome.ts';
export { fitsUtf8, truncateUtf8 } from './text.ts';
export * from './timestamp.ts';
export * from './transformer.ts';
