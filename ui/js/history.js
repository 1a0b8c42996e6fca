// @ts-check
// History: a room's timeline from the server beyond what arrives live. The
// latest page is loaded with the first join, older pages when the user
// scrolls back (GET /api/rooms/{id}/messages), and the facts missed when a
// seq gap shows up live are fetched with room:sync.

/** @typedef {import('./room.js').Room} Room */

/** Messages per page of history. */
export const HISTORY_PAGE = 50;

export class History {
  #api;
  #conn;
  #isOpen;
  #applyEvent;
  #confirm;
  #emit;
  #notice;

  /**
   * isOpen(room): whether the room is still the user's; applyEvent(event):
   * applies a fact that room:sync returned; confirm(messages): the user's
   * own messages found in a page; emit: ChatClient's events ('messages');
   * notice(text): something to tell the user.
   * @param {object} options
   * @param {import('./api.js').Api} options.api
   * @param {{request: (type: string, data: object) => Promise<any>}} options.connection
   * @param {(room: Room) => boolean} options.isOpen
   * @param {(event: any) => void} options.applyEvent
   * @param {(messages: any[]) => void} options.confirm
   * @param {(name: string, payload?: object) => void} options.emit
   * @param {(text: string) => void} options.notice
   */
  constructor({ api, connection, isOpen, applyEvent, confirm, emit, notice }) {
    this.#api = api;
    this.#conn = connection;
    this.#isOpen = isOpen;
    this.#applyEvent = applyEvent;
    this.#confirm = confirm;
    this.#emit = emit;
    this.#notice = notice;
  }

  /**
   * Loads a room's latest page (after joining, unless loaded already).
   * @param {Room} room
   */
  async loadLatest(room) {
    room.history = 'loading';
    try {
      const page = await this.#api.messages(room.id, { limit: HISTORY_PAGE });
      room.history = 'loaded';
      this.#apply(room, page);
    } catch (err) {
      room.history = 'error';
      this.#notice(`Could not load the history of #${room.id}: ${err.message}`);
    }
    this.#emit('messages', { room: room.id });
  }

  /**
   * Pages history back from the oldest message held. Resolves when done.
   * @param {Room} room
   */
  async loadOlder(room) {
    if (room.loadingOlder || room.history !== 'loaded' || !room.store.hasMore) return;
    room.loadingOlder = true;
    this.#emit('messages', { room: room.id });
    try {
      const page = await this.#api.messages(room.id, { before: room.store.oldestId, limit: HISTORY_PAGE });
      this.#apply(room, page);
    } catch (err) {
      this.#notice(`Could not load older messages: ${err.message}`);
    } finally {
      room.loadingOlder = false;
      this.#emit('messages', { room: room.id });
    }
  }

  /**
   * Fetches the facts after lastSeq, again while the server says there are more.
   * @param {Room} room
   */
  sync(room) {
    if (room.syncing || !room.joined) return;
    room.syncing = true;
    const from = room.store.lastSeq;
    this.#conn.request('room:sync', { room: room.id, after: from }).then(
      (reply) => {
        if (!this.#isOpen(room)) return;
        for (const ev of reply.events ?? []) this.#applyEvent(ev);
        room.syncing = false;
        const progressed = room.store.lastSeq > from;
        if (progressed && (reply.complete === false || room.store.hasGap)) this.sync(room);
      },
      () => {
        // Disconnected or refused: the next join with `after` recovers what is missing.
        room.syncing = false;
      },
    );
  }

  /**
   * @param {Room} room
   * @param {{messages: any[], hasMore: boolean, events?: any[]}} page
   */
  #apply(room, { messages, hasMore, events }) {
    room.store.applyHistory(messages, { hasMore, events });
    this.#confirm(messages);
  }
}
