// The connection indicator in the room header: a dot and a short sentence for
// the connection state, a countdown while waiting to reconnect, and a retry
// button when reconnecting or failed.

import { State } from '../connection.js';
import { byId } from './dom.js';

const LABELS = {
  [State.DISCONNECTED]: 'Disconnected',
  [State.CONNECTING]: 'Connecting…',
  [State.CONNECTED]: 'Connected',
  [State.RECONNECTING]: 'Reconnecting…',
  [State.FAILED]: 'Connection failed',
};

export class ConnectionStatus {
  #connection;
  #root = byId('conn-status');
  #text = byId('conn-text');
  #retry = byId('conn-retry');
  #countdown = null;
  #offline = false;
  #off;

  constructor({ connection }) {
    this.#connection = connection;
    this.#retry.addEventListener('click', () => connection.connect());
    this.#off = connection.on('state', (s) => this.#render(s));
    this.#render({ state: connection.state, delayMs: null });
  }

  /** The browser's own idea of the network, shown instead of a countdown. */
  setOffline(offline) {
    this.#offline = offline;
    this.#render({ state: this.#connection.state, delayMs: null });
  }

  destroy() {
    this.#off();
    clearInterval(this.#countdown);
  }

  #render({ state, delayMs }) {
    clearInterval(this.#countdown);
    this.#countdown = null;
    this.#root.dataset.state = state;
    this.#retry.hidden = !(state === State.FAILED || (state === State.RECONNECTING && !this.#offline));
    this.#retry.textContent = state === State.FAILED ? 'Retry' : 'Retry now';
    if (state === State.RECONNECTING && this.#offline) {
      this.#text.textContent = 'Offline: waiting for the network';
    } else if (state === State.RECONNECTING && delayMs) {
      const until = Date.now() + delayMs;
      const tick = () => {
        const seconds = Math.max(0, Math.ceil((until - Date.now()) / 1000));
        this.#text.textContent = seconds > 0 ? `Reconnecting in ${seconds}s` : LABELS[state];
      };
      tick();
      this.#countdown = setInterval(tick, 1000);
    } else {
      this.#text.textContent = LABELS[state];
    }
  }
}
