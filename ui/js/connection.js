// @ts-check
// The WebSocket connection: a state machine plus the socket it drives.
//
// Connection owns reconnection (exponential backoff, bounded attempts), the
// heartbeat that detects a dead link, and request/reply matching by `ref`.
// It knows nothing of rooms or messages: everything else is a `frame` event.
// The WebSocket constructor and the timer functions are injected, so the whole
// module runs in node without a browser.

import { Backoff, BACKOFF_DEFAULTS } from './backoff.js';
import { Emitter } from './emitter.js';
import { ChatError, LocalCode } from './errors.js';
import { systemTimers } from './timers.js';

export const State = Object.freeze({
  DISCONNECTED: 'DISCONNECTED',
  CONNECTING: 'CONNECTING',
  CONNECTED: 'CONNECTED',
  RECONNECTING: 'RECONNECTING',
  FAILED: 'FAILED',
});

/** Close code the server uses when the session has expired or was revoked. */
export const CLOSE_UNAUTHORIZED = 4001;

/**
 * What moves the machine:
 *   connect       the user (or the app) asks to connect, or to retry now
 *   open          the socket opened
 *   lost          the socket closed or never opened; another attempt is scheduled
 *   exhausted     the socket closed and no attempts are left
 *   offline       the browser reports the network gone; wait for it to return
 *   unauthorized  the server closed with 4001
 *   stop          the user disconnects (log out)
 */
const TRANSITIONS = Object.freeze({
  [State.DISCONNECTED]: { connect: State.CONNECTING },
  [State.CONNECTING]: {
    open: State.CONNECTED,
    lost: State.RECONNECTING,
    offline: State.RECONNECTING,
    unauthorized: State.DISCONNECTED,
    stop: State.DISCONNECTED,
  },
  [State.CONNECTED]: {
    lost: State.RECONNECTING,
    offline: State.RECONNECTING,
    unauthorized: State.DISCONNECTED,
    stop: State.DISCONNECTED,
  },
  [State.RECONNECTING]: {
    connect: State.RECONNECTING,
    open: State.CONNECTED,
    lost: State.RECONNECTING,
    exhausted: State.FAILED,
    offline: State.RECONNECTING,
    unauthorized: State.DISCONNECTED,
    stop: State.DISCONNECTED,
  },
  [State.FAILED]: { connect: State.CONNECTING, stop: State.DISCONNECTED },
});

export const EVENTS = Object.freeze(['connect', 'open', 'lost', 'exhausted', 'offline', 'unauthorized', 'stop']);

/** The state after `event` in `state`, or null when the event does not apply there. */
export function transition(state, event) {
  return TRANSITIONS[state]?.[event] ?? null;
}

/**
 * Events:
 *   state         {state, previous, event, attempt, maxAttempts, delayMs}
 *                 after every transition (RECONNECTING -> RECONNECTING included,
 *                 so a countdown can follow each new attempt)
 *   frame         every frame received, parsed, except replies consumed by request()
 *   unauthorized  the server closed with 4001; the connection will not retry
 */
export class Connection {
  #url;
  #WebSocket;
  #timers;
  #now;
  #backoff;
  #connectTimeoutMs;
  #heartbeatMs;
  #requestTimeoutMs;
  #emitter = new Emitter();

  /** @type {string} */
  #state = State.DISCONNECTED;
  #socket = null;
  #offline = false;
  #retryTimer = null;
  #probeTimer = null;
  /** @type {(() => Promise<boolean>) | null} */
  #probe;
  #probeMs;
  #connectTimer = null;
  #heartbeatTimer = null;
  #lastFrameAt = 0;
  #nextRef = 1;
  #pending = new Map();

  /**
   * @param {object} options
   * @param {string} options.url
   * @param {typeof WebSocket} [options.WebSocket]
   * @param {import('./timers.js').Timers} [options.timers]
   * @param {() => number} [options.now]
   * @param {() => number} [options.random]
   * @param {number} [options.maxAttempts]
   * @param {number} [options.connectTimeoutMs]
   * @param {number} [options.heartbeatMs]
   * @param {number} [options.requestTimeoutMs]
   * @param {(() => Promise<boolean>) | null} [options.probe] asks whether the server answers
   *   (a cheap HTTP health check); while waiting to reconnect it is called every probeMs, and
   *   a true answer ends the wait at once
   * @param {number} [options.probeMs]
   */
  constructor({
    url,
    WebSocket = globalThis.WebSocket,
    timers = systemTimers,
    now = Date.now,
    random = Math.random,
    maxAttempts = BACKOFF_DEFAULTS.maxAttempts,
    connectTimeoutMs = 10000,
    heartbeatMs = 25000,
    requestTimeoutMs = 15000,
    probe = null,
    probeMs = 1000,
  }) {
    this.#probe = probe;
    this.#probeMs = probeMs;
    this.#url = url;
    this.#WebSocket = WebSocket;
    this.#timers = timers;
    this.#now = now;
    this.#backoff = new Backoff({ random, maxAttempts });
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#heartbeatMs = heartbeatMs;
    this.#requestTimeoutMs = requestTimeoutMs;
  }

  get state() {
    return this.#state;
  }

  /** Reconnection attempts made since the last successful open. */
  get attempt() {
    return this.#backoff.attempt;
  }

  on(name, fn) {
    return this.#emitter.on(name, fn);
  }

  /**
   * Connects from DISCONNECTED or FAILED (a manual retry starts a fresh series
   * of attempts); in RECONNECTING it skips the remaining wait.
   */
  connect() {
    if (this.#state === State.DISCONNECTED || this.#state === State.FAILED) {
      this.#backoff.reset();
      this.#dispatch('connect');
      this.#open();
    } else if (this.#state === State.RECONNECTING && !this.#socket) {
      this.#clearRetry();
      this.#dispatch('connect');
      this.#open();
    }
  }

  /** Closes the socket for good (until connect() is called again). */
  disconnect() {
    this.#clearRetry();
    this.#closeSocket(1000, 'bye');
    this.#dispatch('stop');
  }

  /**
   * Tells the connection whether the browser believes it is online. Going
   * offline drops the socket at once and waits; coming back online connects
   * immediately with a fresh series of attempts.
   */
  setOnline(online) {
    if (online === !this.#offline) return;
    this.#offline = !online;
    if (!online) {
      if (this.#state === State.DISCONNECTED || this.#state === State.FAILED) return;
      this.#clearRetry();
      this.#closeSocket(4000, 'offline');
      this.#dispatch('offline');
      return;
    }
    if (this.#state === State.RECONNECTING || this.#state === State.FAILED) {
      this.#backoff.reset();
      this.connect();
    }
  }

  /** Sends one frame; returns false (and sends nothing) unless CONNECTED. */
  send(frame) {
    if (this.#state !== State.CONNECTED) return false;
    this.#socket.send(JSON.stringify(frame));
    return true;
  }

  /**
   * Sends a frame with a fresh ref and resolves with the data of its `reply`
   * ({ok: true, ...}); rejects with a ChatError on {ok: false}, on timeout, or
   * when the connection drops first.
   */
  request(type, data, { timeoutMs = this.#requestTimeoutMs } = {}) {
    return new Promise((resolve, reject) => {
      const ref = `r${this.#nextRef++}`;
      if (!this.send({ type, ref, data })) {
        reject(new ChatError(LocalCode.DISCONNECTED, 'Not connected'));
        return;
      }
      const timer = this.#timers.setTimeout(() => {
        this.#pending.delete(ref);
        reject(new ChatError(LocalCode.TIMEOUT, `No answer to ${type}`));
      }, timeoutMs);
      this.#pending.set(ref, { resolve, reject, timer });
    });
  }

  #dispatch(event, { delayMs = null } = {}) {
    const next = transition(this.#state, event);
    if (next === null) return;
    const previous = this.#state;
    this.#state = next;
    this.#emitter.emit('state', {
      state: next,
      previous,
      event,
      attempt: this.#backoff.attempt,
      maxAttempts: this.#backoff.maxAttempts,
      delayMs,
    });
  }

  #open() {
    const socket = new this.#WebSocket(this.#url);
    this.#socket = socket;
    this.#connectTimer = this.#timers.setTimeout(() => {
      this.#connectTimer = null;
      this.#closeSocket(4000, 'connect timeout');
      this.#afterLoss();
    }, this.#connectTimeoutMs);
    socket.onopen = () => this.#onOpen();
    socket.onmessage = (e) => this.#onMessage(e.data);
    socket.onclose = (e) => this.#onClose(e.code);
  }

  #onOpen() {
    this.#timers.clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
    this.#backoff.reset();
    this.#lastFrameAt = this.#now();
    this.#scheduleHeartbeat();
    this.#dispatch('open');
  }

  #onMessage(raw) {
    this.#lastFrameAt = this.#now();
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== 'string') return;
    if (frame.type === 'reply' && this.#settle(frame)) return;
    this.#emitter.emit('frame', frame);
  }

  #settle(frame) {
    const pending = this.#pending.get(frame.ref);
    if (!pending) return false;
    this.#pending.delete(frame.ref);
    this.#timers.clearTimeout(pending.timer);
    const data = frame.data ?? {};
    if (data.ok === false) {
      const { code = 'ERROR', message = 'Request failed' } = data.error ?? {};
      pending.reject(new ChatError(code, message));
    } else {
      pending.resolve(data);
    }
    return true;
  }

  #onClose(code) {
    this.#detach();
    if (code === CLOSE_UNAUTHORIZED) {
      this.#dispatch('unauthorized');
      this.#emitter.emit('unauthorized');
      return;
    }
    this.#afterLoss();
  }

  /** Schedules the next attempt, or waits for the network, or gives up. */
  #afterLoss() {
    if (this.#offline) {
      this.#dispatch('offline');
      return;
    }
    const delayMs = this.#backoff.next();
    if (delayMs === null) {
      this.#dispatch('exhausted');
      return;
    }
    this.#dispatch('lost', { delayMs });
    this.#retryTimer = this.#timers.setTimeout(() => {
      this.#retryTimer = null;
      this.#clearProbe();
      this.#open();
    }, delayMs);
    this.#scheduleProbe();
  }

  /**
   * While an attempt waits out its delay, asks every probeMs whether the
   * server answers again, and makes the attempt at once when it does. The
   * attempt is the one already counted: the backoff still bounds how many
   * are made.
   */
  #scheduleProbe() {
    if (!this.#probe) return;
    this.#probeTimer = this.#timers.setTimeout(() => {
      this.#probeTimer = null;
      const waiting = this.#retryTimer;
      this.#probe().then(
        (up) => {
          if (this.#retryTimer === null || this.#retryTimer !== waiting) return;
          if (up) this.connect();
          else this.#scheduleProbe();
        },
        () => {
          if (this.#retryTimer !== null && this.#retryTimer === waiting) this.#scheduleProbe();
        },
      );
    }, this.#probeMs);
  }

  #clearProbe() {
    this.#timers.clearTimeout(this.#probeTimer);
    this.#probeTimer = null;
  }

  #scheduleHeartbeat() {
    this.#heartbeatTimer = this.#timers.setTimeout(() => {
      this.#heartbeatTimer = null;
      if (this.#now() - this.#lastFrameAt > 2 * this.#heartbeatMs) {
        this.#closeSocket(4000, 'heartbeat timeout');
        this.#afterLoss();
        return;
      }
      this.send({ type: 'heartbeat', data: { t: this.#now() } });
      this.#scheduleHeartbeat();
    }, this.#heartbeatMs);
  }

  /** Closes the current socket, if any, without waiting for its close event. */
  #closeSocket(code, reason) {
    const socket = this.#socket;
    if (!socket) return;
    this.#detach();
    socket.close(code, reason);
  }

  /** Forgets the current socket: its later events are ignored; pending requests fail. */
  #detach() {
    const socket = this.#socket;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = null;
      this.#socket = null;
    }
    this.#timers.clearTimeout(this.#connectTimer);
    this.#timers.clearTimeout(this.#heartbeatTimer);
    this.#connectTimer = this.#heartbeatTimer = null;
    for (const { reject, timer } of this.#pending.values()) {
      this.#timers.clearTimeout(timer);
      reject(new ChatError(LocalCode.DISCONNECTED, 'Connection lost'));
    }
    this.#pending.clear();
  }

  #clearRetry() {
    this.#timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#clearProbe();
  }
}
