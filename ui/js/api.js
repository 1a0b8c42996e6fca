// @ts-check
// The REST half of the protocol (PROTOCOL.md, "REST"). Every call is
// same-origin with credentials, so the HttpOnly session cookie set by login
// and register authenticates it. Failures reject with a ChatError carrying the
// server's code and HTTP status.

import { ChatError, LocalCode } from './errors.js';

/** @typedef {(input: string, init?: RequestInit) => Promise<Response>} Fetch */

/** Rooms per page of the user's own list (the server's default), and at most this many pages. */
const MY_ROOMS_PAGE = 100;
const MY_ROOMS_MAX_PAGES = 100;

export class Api {
  /** @type {Fetch} */
  #fetch;
  #base;

  /** @param {{fetch?: Fetch, base?: string}} [options] */
  constructor({ fetch = (input, init) => globalThis.fetch(input, init), base = '/api' } = {}) {
    this.#fetch = fetch;
    this.#base = base;
  }

  /** The logged-in user, or null when there is no valid session. */
  async me() {
    try {
      return (await this.#call('GET', '/auth/me')).user;
    } catch (err) {
      if (err.status === 401) return null;
      throw err;
    }
  }

  async login(username, password) {
    return (await this.#call('POST', '/auth/login', { username, password })).user;
  }

  async register(username, password, displayName) {
    const body = { username, password, ...(displayName ? { displayName } : {}) };
    return (await this.#call('POST', '/auth/register', body)).user;
  }

  async logout() {
    await this.#call('POST', '/auth/logout');
  }

  /**
   * A page of the room list, in creation order: at most limit rooms, after
   * cursor (the `next` of the page before), those whose name holds q when
   * given. Resolves with {rooms, next}; next is null after the last page.
   * @param {{q?: string, cursor?: string | null, limit?: number}} [options]
   * @returns {Promise<{rooms: any[], next: string | null}>}
   */
  async rooms({ q = '', cursor = null, limit } = {}) {
    const page = await this.#call('GET', `/rooms${query({ q, cursor, limit })}`);
    return { rooms: page.rooms ?? [], next: page.next || null };
  }

  /**
   * The rooms the user is a member of, in the order joined: each a room of
   * the room list with the user's read position (lastReadSeq) and the
   * unreadCount and mentionCount after it (unreadMore: at least those).
   * The account's list, the same on every device, read a page at a time;
   * a page whose cursor room was left meanwhile (400) starts the list again.
   * @returns {Promise<any[]>}
   */
  async myRooms() {
    for (let attempt = 1; ; attempt++) {
      const rooms = [];
      let cursor = null;
      try {
        for (let page = 0; page < MY_ROOMS_MAX_PAGES; page++) {
          const query = new URLSearchParams({ limit: String(MY_ROOMS_PAGE) });
          if (cursor) query.set('cursor', cursor);
          const body = await this.#call('GET', `/me/rooms?${query}`);
          rooms.push(...(body.rooms ?? []));
          cursor = typeof body.next === 'string' && body.next ? body.next : null;
          if (!cursor) break;
        }
        return rooms;
      } catch (err) {
        if (!(cursor && err instanceof ChatError && err.status === 400 && attempt < 3)) throw err;
      }
    }
  }

  /**
   * Creates a room; the creator becomes a member.
   * @param {{name: string, description?: string, isPrivate?: boolean, password?: string}} room
   */
  async createRoom({ name, description, isPrivate, password }) {
    /** @type {{name: string, description?: string, isPrivate: boolean, password?: string}} */
    const body = { name, ...(description ? { description } : {}), isPrivate: Boolean(isPrivate) };
    if (isPrivate) body.password = password;
    return (await this.#call('POST', '/rooms', body)).room;
  }

  /**
   * A page of messages, oldest first: the newest `limit` with id < before (or the newest),
   * with the room's membership facts (event frame data) of the page's stretch.
   * @param {string} room
   * @param {{before?: string | number | null, limit?: number}} [options]
   * @returns {Promise<{messages: any[], hasMore: boolean, events: any[]}>}
   */
  async messages(room, { before, limit = 50 } = {}) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (before != null) query.set('before', String(before));
    const page = await this.#call('GET', `/rooms/${encodeURIComponent(room)}/messages?${query}`);
    const events = Array.isArray(page.events) ? page.events : [];
    return { messages: page.messages ?? [], hasMore: Boolean(page.hasMore), events };
  }

  /**
   * A page of a room's members, in user id order, after cursor (the `next`
   * of the page before, or the join reply's `membersNext`). Resolves with
   * {members, next}; next is null after the last page.
   * @param {string} room
   * @param {{cursor?: string | null, limit?: number}} [options]
   * @returns {Promise<{members: any[], next: string | null}>}
   */
  async members(room, { cursor = null, limit } = {}) {
    const page = await this.#call('GET', `/rooms/${encodeURIComponent(room)}/members${query({ cursor, limit })}`);
    return { members: page.members ?? [], next: page.next || null };
  }

  /**
   * Asks for a presigned POST to storage for one file: {url, fields, key,
   * expiresAt}. Rejects with BAD_UPLOAD (type or size refused) or
   * STORAGE_UNAVAILABLE (storage not configured or down).
   */
  async createUpload({ filename, contentType, size, purpose }) {
    return this.#call('POST', '/uploads', { filename, contentType, size, purpose });
  }

  /** Makes an uploaded image the user's avatar; resolves with the updated user. */
  async setAvatar(key) {
    return (await this.#call('PUT', '/auth/me/avatar', { key })).user;
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @returns {Promise<any>}
   */
  async #call(method, path, body) {
    /** @type {Record<string, string>} */
    const headers = { Accept: 'application/json' };
    /** @type {RequestInit} */
    const init = { method, credentials: 'same-origin', headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await this.#fetch(this.#base + path, init);
    } catch {
      throw new ChatError(LocalCode.NETWORK, 'The server cannot be reached');
    }
    if (res.status === 204) return {};
    const payload = await res.json().catch(() => ({}));
    if (!res.ok) {
      const { code = `HTTP_${res.status}`, message = res.statusText || 'Request failed', retryAfterMs = 0 } = payload.error ?? {};
      throw new ChatError(code, message, { status: res.status, retryAfterMs: Number(retryAfterMs) || 0 });
    }
    return payload;
  }
}

/** A query string of the parameters given (empty strings and null left out), '' when none is. */
function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== null && value !== undefined && value !== '') q.set(key, String(value));
  const s = q.toString();
  return s ? `?${s}` : '';
}
