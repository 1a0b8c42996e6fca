// Entry point: finds out whether there is a session (GET /api/auth/me), then
// shows the log-in screen or starts a chat session, and ends the session on
// log out or when the server says it has expired.

import { Api } from './api.js';
import { ChatClient } from './client.js';
import { Connection, State } from './connection.js';
import { Outbox } from './outbox.js';
import { AuthView } from './views/auth.js';
import { ChatView } from './views/chat.js';
import { byId } from './views/dom.js';

const SESSION_ENDED = 'Your session has ended. Log in again to continue.';

/** One logged-in user's chat, from log in to log out. */
class Session {
  #api;
  #client;
  #connection;
  #view;
  #onEnd;
  #cleanup = [];

  constructor({ api, user, storage, onEnd }) {
    this.#api = api;
    this.#onEnd = onEnd;
    this.#connection = new Connection({ url: socketUrl(location), probe: serverAnswers });
    this.#client = new ChatClient({
      connection: this.#connection,
      api,
      outbox: new Outbox({ storage, key: `chillin.outbox.${user.username}` }),
      me: user.username,
      profile: user,
      storage,
    });
    this.#view = ChatView.mount({ client: this.#client, connection: this.#connection, api, user });
  }

  start() {
    const onNetwork = () => {
      this.#connection.setOnline(navigator.onLine);
      this.#view.setOffline(!navigator.onLine);
    };
    const onAttention = () => this.#client.setAttentive(document.visibilityState === 'visible' && document.hasFocus());
    this.#listen(window, 'online', onNetwork);
    this.#listen(window, 'offline', onNetwork);
    this.#listen(window, 'focus', onAttention);
    this.#listen(window, 'blur', onAttention);
    this.#listen(document, 'visibilitychange', onAttention);
    this.#listen(byId('logout'), 'click', () => this.#logout());
    this.#cleanup.push(
      this.#client.on('unauthorized', () => this.#end({ note: SESSION_ENDED })),
      this.#connection.on('state', (s) => this.#checkSessionAfter(s)),
    );

    onNetwork();
    onAttention();
    this.#client.start();
    this.#view.show();
  }

  #listen(target, type, fn) {
    target.addEventListener(type, fn);
    this.#cleanup.push(() => target.removeEventListener(type, fn));
  }

  /**
   * A handshake refused for an expired session looks like any failed
   * connection to a browser, so after a failed attempt the session is checked
   * over REST.
   */
  #checkSessionAfter({ state, previous, event }) {
    if (state !== State.RECONNECTING || event !== 'lost' || previous === State.CONNECTED) return;
    this.#api.me().then(
      (user) => user === null && this.#end({ note: SESSION_ENDED }),
      () => {
        // The server is unreachable: the connection keeps retrying.
      },
    );
  }

  async #logout() {
    this.#end({ forget: true });
    try {
      await this.#api.logout();
    } catch {
      // The session is dropped here either way; the server expires it on its own.
    }
  }

  #end({ forget = false, note = '' }) {
    for (const off of this.#cleanup) off();
    this.#cleanup = [];
    this.#client.stop({ forget });
    this.#view.destroy();
    this.#onEnd(note);
  }
}

/** The WebSocket URL on this page's origin. */
function socketUrl({ protocol, host }) {
  return `${protocol === 'https:' ? 'wss:' : 'ws:'}//${host}/ws`;
}

/** localStorage, or an in-memory stand-in where the browser refuses storage. */
function pageStorage() {
  try {
    const probe = 'chillin.probe';
    localStorage.setItem(probe, probe);
    localStorage.removeItem(probe);
    return localStorage;
  } catch {
    const map = new Map();
    return {
      getItem: (key) => (map.has(key) ? map.get(key) : null),
      setItem: (key, value) => map.set(key, String(value)),
      removeItem: (key) => map.delete(key),
    };
  }
}

function main() {
  const api = new Api();
  const storage = pageStorage();
  const splash = byId('splash');
  const splashText = byId('splash-text');
  const splashRetry = byId('splash-retry');

  const begin = (user) => {
    auth.hide();
    new Session({ api, user, storage, onEnd: (note) => auth.show(note) }).start();
  };
  const auth = new AuthView({ api, onAuthenticated: begin });

  const boot = async () => {
    splashText.textContent = 'Loading Chillin…';
    splashRetry.hidden = true;
    let user;
    try {
      user = await api.me();
    } catch {
      splashText.textContent = 'Chillin cannot be reached right now.';
      splashRetry.hidden = false;
      return;
    }
    splash.hidden = true;
    if (user) begin(user);
    else auth.show();
  };
  splashRetry.addEventListener('click', boot);
  boot();
}

main();

/**
 * Whether the server answers its cheap health check (GET /health): while
 * the connection waits out a reconnection delay, an answer ends the wait.
 */
async function serverAnswers() {
  try {
    const res = await fetch('/health', { cache: 'no-store', credentials: 'omit' });
    return res.ok;
  } catch {
    return false;
  }
}
