export * from './clock.js';
export * from './double-field.js';
export * from './prng.js';
