// @ts-check
// RoomList: the user's rooms, in the order joined, as the account holds
// them (GET /api/me/rooms) and as joins and leaves anywhere change them
// (`room:joined`, `room:left`). Each room is joined on every connection:
// again with `after: lastSeq` once its timeline is anchored, so the server
// replays exactly what was missed.
//
// What a join or a closed room means for the rest of the client (history,
// members, sends, read state) is left to the hooks.

import { State } from './connection.js';
import { ChatError, LocalCode } from './errors.js';
import { newRoom } from './room.js';

/** @typedef {import('./room.js').Room} Room */
/**
 * A room as the server's list of the user's rooms gives it.
 * @typedef {{id: string, memberCount?: number, onlineCount?: number, lastReadSeq?: number, unreadCount?: number, mentionCount?: number}} ListedRoom
 */
/**
 * joined(room, reply, options): a room was joined on this connection (its
 * join state and counts already taken from the reply); dropped(id): a room
 * was closed here; listed(list, first): the server's list was taken (first:
 * for the first time).
 * @typedef {object} Hooks
 * @property {(room: Room, reply: any, options: {resume: boolean}) => void} joined
 * @property {(id: string) => void} dropped
 * @property {(list: ListedRoom[], first: boolean) => void} listed
 */

// A room opened here this recently may be missing from a room list that
// lags behind the log: it is not taken for a room left elsewhere.
const LIST_LAG_MS = 10000;

export class RoomList {
  /** @type {Map<string, Room>} id -> room, in the order joined */
  #rooms = new Map();
  /** @type {Set<string>} rooms with an open() on its way */
  #opening = new Set();
  /** @type {Map<string, number>} the seq of a leave told while its room was opening */
  #leftWhileOpening = new Map();
  #listed = false; // whether the server's room list arrived once
  #conn;
  #api;
  #now;
  #hooks;
  #emit;
  #notice;

  /**
   * emit: ChatClient's events ('rooms'); notice(text): something to tell the user.
   * @param {object} options
   * @param {import('./connection.js').Connection} options.connection
   * @param {import('./api.js').Api} options.api
   * @param {() => number} options.now
   * @param {Hooks} options.hooks
   * @param {(name: string, payload?: object) => void} options.emit
   * @param {(text: string) => void} options.notice
   */
  constructor({ connection, api, now, hooks, emit, notice }) {
    this.#conn = connection;
    this.#api = api;
    this.#now = now;
    this.#hooks = hooks;
    this.#emit = emit;
    this.#notice = notice;
  }

  /** The user's rooms, in the order joined. */
  all() {
    return [...this.#rooms.values()];
  }

  /**
   * @param {string | null} id
   * @returns {Room | undefined}
   */
  get(id) {
    return this.#rooms.get(id);
  }

  /**
   * Whether a room is still the user's: not closed, nor closed and opened again.
   * @param {Room} room
   */
  isOpen(room) {
    return this.#rooms.get(room.id) === room;
  }

  /**
   * The room with that id, added (not joined) when not held.
   * @param {string} id
   */
  ensure(id) {
    let room = this.#rooms.get(id);
    if (!room) {
      room = newRoom(id);
      this.#rooms.set(id, room);
    }
    return room;
  }

  /**
   * The room with that id; throws NOT_OPEN when it is not held.
   * @param {string} id
   */
  require(id) {
    const room = this.#rooms.get(id);
    if (!room) throw new ChatError('NOT_OPEN', `Room ${id} is not open`);
    return room;
  }

  /**
   * Joins a room (see ChatClient.openRoom).
   * @param {string} id
   * @param {{password?: string}} [options]
   */
  async open(id, { password } = {}) {
    const open = this.#rooms.get(id);
    if (open) return open;
    this.#opening.add(id);
    let reply;
    let left = 0;
    try {
      reply = await this.#conn.request('room:join', { room: id, ...(password ? { password } : {}) });
    } finally {
      this.#opening.delete(id);
      left = this.#leftWhileOpening.get(id) ?? 0;
      this.#leftWhileOpening.delete(id);
    }
    // Left in another tab after this join was decided, told before its
    // reply: the server ended this join too (docs/protocol.md).
    if (left > (reply.headSeq ?? 0)) throw new ChatError('NOT_MEMBER', 'You left this room in another window.');
    const held = this.#rooms.get(id);
    if (held?.joined) return held; // joined meanwhile, through room:joined
    const room = this.ensure(id);
    room.addedAt = this.#now();
    this.#joined(room, reply, { resume: false });
    return room;
  }

  /**
   * Leaves a room: it closes here at once, and membership ends.
   * @param {string} id
   */
  leave(id) {
    if (!this.#rooms.has(id)) return;
    this.#drop(id);
    this.#conn.request('room:leave', { room: id }).catch(() => {
      // Offline or refused: the room is closed here either way.
    });
    this.#emit('rooms');
  }

  /**
   * Fetches the user's rooms, then joins each on this connection: a room
   * left elsewhere meanwhile is not joined again.
   */
  async connected() {
    await this.#refresh();
    if (this.#conn.state !== State.CONNECTED) return;
    for (const room of this.#rooms.values()) if (!room.joined && !room.joining) this.#rejoin(room);
  }

  /** The connection dropped: no room is joined any more. */
  lost() {
    for (const room of this.#rooms.values()) {
      room.joined = false;
      room.syncing = false;
    }
  }

  /**
   * Another tab or device of the user joined a room (or created one).
   * @param {{room?: unknown}} data
   */
  onRoomJoined({ room: id }) {
    if (typeof id !== 'string' || this.#rooms.has(id) || this.#opening.has(id)) return;
    const room = this.ensure(id);
    room.addedAt = this.#now();
    if (this.#conn.state === State.CONNECTED) this.#rejoin(room);
    this.#emit('rooms');
  }

  /**
   * The user left a room, here or elsewhere. A leave told while the room is
   * opening here ends that open if it came after the join (open()).
   * @param {{room?: string, seq?: number}} data
   */
  onRoomLeft({ room: id, seq }) {
    if (this.#opening.has(id) && Number.isSafeInteger(seq)) this.#leftWhileOpening.set(id, Math.max(seq, this.#leftWhileOpening.get(id) ?? 0));
    if (!this.#rooms.has(id)) return;
    this.#drop(id);
    this.#emit('rooms');
  }

  /**
   * Takes the user's rooms, their order, read positions and counts from the
   * server. A room held here that the list lacks was left elsewhere (unless
   * it was opened here too recently for the list to show it).
   */
  async #refresh() {
    const asked = this.#now();
    /** @type {ListedRoom[]} */
    let list;
    try {
      list = await this.#api.myRooms();
    } catch (err) {
      // Without the list the rooms held are joined again as they are.
      this.#notice(`Could not load your rooms: ${err.message}`);
      return;
    }
    const ids = new Set(list.map((r) => r.id));
    for (const room of [...this.#rooms.values()]) {
      if (!ids.has(room.id) && room.addedAt < asked - LIST_LAG_MS && !this.#opening.has(room.id)) this.#drop(room.id);
    }
    for (const r of list) {
      const room = this.ensure(r.id);
      room.info ??= r;
      if (!room.memberCount) room.memberCount = r.memberCount ?? 0;
      if (!room.onlineCount) room.onlineCount = r.onlineCount ?? 0;
    }
    const held = [...this.#rooms.values()];
    this.#rooms = new Map([...list.map((r) => this.#rooms.get(r.id)), ...held.filter((r) => !ids.has(r.id))].map((r) => [r.id, r]));
    const first = !this.#listed;
    this.#listed = true;
    this.#hooks.listed(list, first);
    this.#emit('rooms');
  }

  /**
   * Closes a room here.
   * @param {string} id
   */
  #drop(id) {
    this.#rooms.delete(id);
    this.#hooks.dropped(id);
  }

  /** @param {Room} room */
  #rejoin(room) {
    const resume = room.store.anchored;
    const data = { room: room.id, ...(resume ? { after: room.store.lastSeq } : {}) };
    room.joining = true;
    this.#conn.request('room:join', data).then(
      (reply) => {
        room.joining = false;
        if (this.isOpen(room)) this.#joined(room, reply, { resume });
      },
      (err) => {
        room.joining = false;
        if (err.code === LocalCode.DISCONNECTED || !this.isOpen(room)) return;
        room.error = err;
        this.#emit('rooms');
        this.#notice(`Could not join #${room.id}: ${err.message}`);
      },
    );
  }

  /**
   * @param {Room} room
   * @param {any} reply the room:join reply
   * @param {{resume: boolean}} options
   */
  #joined(room, reply, { resume }) {
    room.joined = true;
    room.error = null;
    room.info = reply.room ?? room.info;
    room.memberCount = Number.isFinite(reply.room?.memberCount) ? reply.room.memberCount : countOf(reply.members);
    room.onlineCount = countOf(reply.online);
    this.#hooks.joined(room, reply, { resume });
    this.#emit('rooms');
  }
}

/**
 * The join reply's members/online: a count, or a list to count.
 * @param {unknown} value
 */
function countOf(value) {
  if (Array.isArray(value)) return value.length;
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}
