export * from './clock.js';
export * from './prng.js';
