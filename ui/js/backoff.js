// @ts-check
// Reconnection delays: exponential growth with jitter, capped, for a bounded
// number of attempts.

/** @typedef {{baseMs: number, jitterMs: number, capMs: number, maxAttempts: number}} BackoffOptions */

/** @type {Readonly<BackoffOptions>} */
export const BACKOFF_DEFAULTS = Object.freeze({
  baseMs: 1000,
  jitterMs: 1000,
  capMs: 30000,
  maxAttempts: 10,
});

/**
 * The delay before reconnection attempt `attempt` (0-based):
 * min(baseMs * 2^attempt + jitter, capMs), with jitter drawn from [0, jitterMs).
 * The cap applies after the jitter, so no delay ever exceeds capMs.
 * @param {number} attempt
 * @param {() => number} [random]
 * @param {Partial<BackoffOptions>} [options]
 */
export function backoffDelay(attempt, random = Math.random, options = BACKOFF_DEFAULTS) {
  const { baseMs, jitterMs, capMs } = { ...BACKOFF_DEFAULTS, ...options };
  const jitter = Math.floor(random() * jitterMs);
  return Math.min(baseMs * 2 ** attempt + jitter, capMs);
}

/**
 * A counter of attempts. next() returns the delay for the next attempt, or
 * null once maxAttempts have been handed out; reset() starts over.
 */
export class Backoff {
  #attempt = 0;
  #random;
  #options;

  /** @param {{random?: () => number, baseMs?: number, jitterMs?: number, capMs?: number, maxAttempts?: number}} [options] */
  constructor({ random = Math.random, ...options } = {}) {
    this.#random = random;
    this.#options = { ...BACKOFF_DEFAULTS, ...options };
  }

  /** How many delays have been handed out since the last reset. */
  get attempt() {
    return this.#attempt;
  }

  get maxAttempts() {
    return this.#options.maxAttempts;
  }

  next() {
    if (this.#attempt >= this.#options.maxAttempts) return null;
    const delay = backoffDelay(this.#attempt, this.#random, this.#options);
    this.#attempt += 1;
    return delay;
  }

  reset() {
    this.#attempt = 0;
  }
}
