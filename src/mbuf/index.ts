export * from './layout.js';
export * from './mempool.js';
export * from './ts-mempool.js';
