export * from './names.js';
export type * from './types.js';
