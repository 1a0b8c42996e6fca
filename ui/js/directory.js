// @ts-check
// RoomDirectory: the rooms to discover, as GET /api/rooms serves them (in
// the order they were created, a page at a time), or the rooms whose name
// holds a search. It holds no DOM; the sidebar renders what it says.
//
// Two lists: the paged list, kept while a search is on so that clearing the
// search brings it back at once, and the list of the search on screen
// (until its first answer, the rooms already on screen that it matches). Every
// answer belongs to the list that asked: an answer for a search the user has
// since changed or cleared is dropped. A list asks one page at a time.

import { Emitter } from './emitter.js';
import { systemTimers } from './timers.js';

/** Rooms per page the app asks for. */
export const DIRECTORY_PAGE = 50;
/** How long typing must pause before a search is sent. */
export const SEARCH_DELAY_MS = 250;
/** The largest page the server serves, and the longest search it takes (code points). */
const MAX_PAGE = 1000;
const MAX_QUERY = 100;

/**
 * Events:
 *   change  what the list shows changed: its rooms, whether more follow, a
 *           request starting or ending, an error
 */
export class RoomDirectory {
  #api;
  #timers;
  #pageSize;
  #searchDelayMs;
  #emitter = new Emitter();
  #paged = newList('');
  #search = null; // the list of the search on screen, null while browsing
  #searchTimer = null;

  /**
   * @param {{api: import('./api.js').Api, timers?: import('./timers.js').Timers, pageSize?: number, searchDelayMs?: number}} options
   */
  constructor({ api, timers = systemTimers, pageSize = DIRECTORY_PAGE, searchDelayMs = SEARCH_DELAY_MS }) {
    this.#api = api;
    this.#timers = timers;
    this.#pageSize = pageSize;
    this.#searchDelayMs = searchDelayMs;
  }

  on(name, fn) {
    return this.#emitter.on(name, fn);
  }

  /** The search the list shows, '' for the paged list of every room. */
  get query() {
    return this.#list.query;
  }

  /** The rooms shown, in creation order. */
  get rooms() {
    return this.#list.rooms;
  }

  /** Whether the server has more rooms after those shown. */
  get hasMore() {
    return this.#list.next !== null;
  }

  /** Whether a page of the list shown is on its way. */
  get loading() {
    return this.#list.busy;
  }

  /** Whether the list shown has had an answer yet. */
  get loaded() {
    return this.#list.loaded;
  }

  /** The last request of the list shown failed (a ChatError), or null. */
  get error() {
    return this.#list.error;
  }

  /** A known room's directory data (name, description, counts), or null. */
  entry(id) {
    return this.#paged.rooms.find((r) => r.id === id) ?? this.#search?.rooms.find((r) => r.id === id) ?? null;
  }

  /**
   * Reloads the list shown from its start, as many rooms as it holds (at
   * least a page), so that counts and new rooms show without losing the
   * place of someone who has paged on. Skipped while the list is loading.
   */
  async refresh() {
    const list = this.#list;
    if (list.busy) return;
    const limit = Math.min(MAX_PAGE, Math.max(this.#pageSize, list.rooms.length));
    const answered = list.loaded; // else its rooms are a search's stand-ins
    const page = await this.#fetch(list, { limit });
    if (!page) return;
    const last = page.rooms.at(-1)?.id;
    const at = answered && page.next !== null && last !== undefined ? list.rooms.findIndex((r) => r.id === last) : -1;
    if (at >= 0 && at + 1 < list.rooms.length) {
      // More was loaded than one page brings back: the rooms after it stay,
      // and so does the cursor after them.
      list.rooms = [...page.rooms, ...list.rooms.slice(at + 1)];
    } else {
      list.rooms = page.rooms;
      list.next = page.next;
    }
    this.#emit();
  }

  /** Loads the next page of the list shown, if there is one and none is on its way. */
  async loadMore() {
    const list = this.#list;
    if (list.busy || list.next === null) return;
    const page = await this.#fetch(list, { cursor: list.next, limit: this.#pageSize });
    if (!page) return;
    const known = new Set(list.rooms.map((r) => r.id));
    list.rooms = [...list.rooms, ...page.rooms.filter((r) => !known.has(r.id))];
    list.next = page.next;
    this.#emit();
  }

  /**
   * Searches room names for text once typing pauses; the results replace
   * the list. Blank text goes back to the paged list at once.
   */
  search(text) {
    const query = [...String(text).trim()].slice(0, MAX_QUERY).join('');
    this.#timers.clearTimeout(this.#searchTimer);
    this.#searchTimer = null;
    if (query === '') {
      if (this.#search === null) return;
      this.#search = null;
      this.#emit();
      this.refresh();
      return;
    }
    if (query === this.#search?.query) return;
    this.#searchTimer = this.#timers.setTimeout(() => {
      this.#searchTimer = null;
      const shown = this.#list.rooms;
      this.#search = newList(query);
      // Until its answer, the search shows those of the rooms on screen it
      // will find: the list narrows rather than emptying and filling again
      // under the pointer (a room being clicked stays where it is).
      this.#search.rooms = shown.filter((r) => holds(r, query));
      this.refresh();
    }, this.#searchDelayMs);
  }

  /** Stops a search waiting to be sent (the view is going away). */
  stop() {
    this.#timers.clearTimeout(this.#searchTimer);
    this.#searchTimer = null;
  }

  get #list() {
    return this.#search ?? this.#paged;
  }

  /**
   * One request for list; resolves with {rooms, next}, or null when it
   * failed or the list is no longer shown (a stale search).
   * @param {any} list
   * @param {{cursor?: string | null, limit: number}} page
   */
  async #fetch(list, { cursor = null, limit }) {
    list.busy = true;
    this.#emit();
    let page;
    try {
      page = await this.#api.rooms({ q: list.query, cursor, limit });
      list.error = null;
      list.loaded = true;
    } catch (err) {
      list.error = err;
      page = null;
    }
    list.busy = false;
    if (!this.#isKept(list)) return null;
    if (!page) this.#emit();
    return page;
  }

  /** Whether answers for list are still wanted: the paged list always is, a search while shown. */
  #isKept(list) {
    return list === this.#paged || list === this.#search;
  }

  #emit() {
    this.#emitter.emit('change');
  }
}

/**
 * Whether a search for query finds room, as the server matches (its name
 * holds the query, whatever the case, or its id does): what shows until the
 * server's answer, which decides.
 */
function holds(room, query) {
  const q = query.toLowerCase();
  return String(room.name ?? '').toLowerCase().includes(q) || String(room.id).includes(q);
}

function newList(query) {
  return { query, rooms: [], next: null, loaded: false, busy: false, error: null };
}
