// @ts-check
// TypingNotifier turns keystrokes in the composer into throttled
// typing:start / typing:stop signals: a start at most once per throttleMs
// while typing continues, a stop after idleMs without input, on send, or
// when the composer is left.

import { systemTimers } from './timers.js';

export class TypingNotifier {
  #send;
  #timers;
  #now;
  #throttleMs;
  #idleMs;
  #typing = false;
  #lastStartAt = 0;
  #idleTimer = null;

  /** send(type) is called with 'typing:start' or 'typing:stop'. */
  /**
   * @param {{send: (type: string) => void, timers?: import('./timers.js').Timers, now?: () => number, throttleMs?: number, idleMs?: number}} options
   */
  constructor({ send, timers = systemTimers, now = Date.now, throttleMs = 3000, idleMs = 5000 }) {
    this.#send = send;
    this.#timers = timers;
    this.#now = now;
    this.#throttleMs = throttleMs;
    this.#idleMs = idleMs;
  }

  /** The user typed something. */
  input() {
    const now = this.#now();
    if (!this.#typing || now - this.#lastStartAt >= this.#throttleMs) {
      this.#typing = true;
      this.#lastStartAt = now;
      this.#send('typing:start');
    }
    this.#timers.clearTimeout(this.#idleTimer);
    this.#idleTimer = this.#timers.setTimeout(() => this.stop(), this.#idleMs);
  }

  /** The user sent, cleared the composer or left it. */
  stop() {
    this.#timers.clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    if (!this.#typing) return;
    this.#typing = false;
    this.#send('typing:stop');
  }
}
