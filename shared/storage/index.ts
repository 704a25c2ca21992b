export * from './fs-store.ts';
export * from './key-order.ts';
export * from './lease.ts';
export * from './object-store.ts';
export * from './s3-store.ts';
