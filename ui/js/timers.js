// @ts-check
// The platform's timer functions, wrapped so they can be stored and called
// without a receiver (browsers reject setTimeout called on another object).
// Logic modules take a { setTimeout, clearTimeout } object so tests can pass
// a manual clock instead.

/**
 * @typedef {object} Timers
 * @property {(fn: () => void, ms: number) => any} setTimeout
 * @property {(id: any) => void} clearTimeout
 */

/** @type {Readonly<Timers>} */
export const systemTimers = Object.freeze({
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (id) => globalThis.clearTimeout(id),
});
