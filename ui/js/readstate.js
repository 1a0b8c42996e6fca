// @ts-check
// Read state: which of the user's rooms is on screen, whether the user is
// looking, and for each room the unread and mention counts, the read
// position (the account's, shared by every tab and device through
// `room:read`) and the "New messages" divider.
//
// The room on screen is read while the user is looking: its counts stay at
// zero and its read position follows what arrives, reported to the server.
// The divider marks what was unread when the room came on screen. Which
// room is on screen is remembered across reloads (Web Storage, per user).

/** @typedef {import('./room.js').Room} Room */

/**
 * Whether a text names the user: @username, not inside a longer name.
 * @param {unknown} text
 * @param {string} me
 */
export function mentions(text, me) {
  const at = `@${me}`;
  const lower = String(text ?? '').toLowerCase();
  for (let i = lower.indexOf(at); i !== -1; i = lower.indexOf(at, i + 1)) {
    const before = i === 0 ? '' : lower[i - 1];
    const after = lower[i + at.length] ?? '';
    if (!/[a-z0-9_-]/.test(before) && !/[a-z0-9_-]/.test(after)) return true;
  }
  return false;
}

/**
 * A room's counts once read up to seq, counted from the messages held, or
 * null when those do not reach back to seq (older ones may be unread too).
 * @param {Room} room
 * @param {number} seq
 * @param {string} me
 * @returns {{unread: number, mentions: number} | null}
 */
export function countAfter(room, seq, me) {
  if (seq >= room.store.lastSeq) return { unread: 0, mentions: 0 };
  const items = heldMessages(room);
  if (!holdsAfter(room, items, seq)) return null;
  const after = items.filter((i) => i.seq > seq && i.user !== me && !i.deleted);
  return { unread: after.length, mentions: after.filter((i) => mentions(i.text, me)).length };
}

/**
 * The seq of the first message the "New messages" divider goes above in a
 * room, or null: the first message by someone else after the divider's read
 * position.
 * @param {Room} room
 * @param {string} me
 * @returns {number | null}
 */
export function firstUnread(room, me) {
  if (room.divider === null) return null;
  const items = heldMessages(room);
  if (!holdsAfter(room, items, room.divider)) return null;
  const first = items.find((i) => i.seq > room.divider && i.user !== me);
  return first ? first.seq : null;
}

/**
 * The room's messages held, oldest first, those with a seq only.
 * @param {Room} room
 */
function heldMessages(room) {
  return room.store.list().filter((i) => i.kind === 'message' && i.seq !== null);
}

/**
 * Whether every message after seq is held: nothing older is left to load,
 * or the oldest message held is the one right after seq or older (pages of
 * history hold every message between their oldest and the newest).
 * @param {Room} room
 * @param {ReturnType<typeof heldMessages>} items
 * @param {number} seq
 */
function holdsAfter(room, items, seq) {
  return !room.store.hasMore || (items.length > 0 && items[0].seq <= seq + 1);
}

/**
 * Whether the first unread message may be older than those held: the
 * divider is set but its message is not loaded yet.
 * @param {Room} room
 * @param {string} me
 */
export function unreadAbove(room, me) {
  return room.divider !== null && !holdsAfter(room, heldMessages(room), room.divider);
}

export class ReadState {
  #me;
  #room;
  #send;
  #emit;
  #storage;
  /** @type {string | null} */
  #active = null;
  #attentive = true;

  /**
   * me: the user's username; room(id): the user's room with that id;
   * send(frame): sends a frame, false when offline; emit: ChatClient's
   * events ('rooms'); storage: where the room on screen is remembered.
   * @param {object} options
   * @param {string} options.me
   * @param {Storage | null} options.storage
   * @param {(id: string | null) => Room | undefined} options.room
   * @param {(frame: {type: string, data: object}) => boolean} options.send
   * @param {(name: string, payload?: object) => void} options.emit
   */
  constructor({ me, storage, room, send, emit }) {
    this.#me = me;
    this.#storage = storage;
    this.#room = room;
    this.#send = send;
    this.#emit = emit;
  }

  /** The room on screen, or null. */
  get active() {
    return this.#active;
  }

  /** The room on screen when the app was last left, or null. */
  remembered() {
    return this.#storage?.getItem(this.#key()) ?? null;
  }

  /** Forgets the room on screen (log out). */
  forget() {
    this.#storage?.removeItem(this.#key());
  }

  /**
   * Puts a room on screen (null: none). The divider of the room leaving
   * and of the one coming is reset. With remember, the room is the one
   * shown after a reload.
   * @param {string | null} id
   * @param {{remember?: boolean}} [options]
   */
  setActive(id, { remember = false } = {}) {
    if (id !== this.#active) {
      const before = this.#room(this.#active);
      if (before) before.divider = null;
      const next = this.#room(id);
      if (next) next.divider = null;
    }
    this.#active = id;
    if (remember) {
      try {
        if (id === null) this.#storage?.removeItem(this.#key());
        else this.#storage?.setItem(this.#key(), id);
      } catch {
        // Storage unavailable: the first open room is shown after a reload instead.
      }
    }
    this.markRead();
  }

  /**
   * Whether the user is looking (window focused and visible).
   * @param {boolean} attentive
   */
  setAttentive(attentive) {
    this.#attentive = attentive;
    this.markRead();
  }

  /**
   * Reads the room on screen, if the user is looking: its counts go to zero
   * and its read position to the last fact applied, reported to the server
   * (which tells the user's other tabs and devices).
   */
  markRead() {
    const room = this.#attentive && this.#room(this.#active);
    if (!room) return;
    let changed = false;
    if (room.unread > 0 || room.mentions > 0) {
      if (room.divider === null) room.divider = room.lastRead;
      room.unread = 0;
      room.mentions = 0;
      room.unreadMore = false;
      changed = true;
    }
    const seq = room.store.lastSeq;
    if (room.joined && seq > room.lastRead) {
      room.lastRead = seq;
      this.#send({ type: 'room:read', data: { room: room.id, seq } });
      changed = true;
    }
    if (changed) this.#emit('rooms');
  }

  /**
   * Takes a room's read position and counts from the server's room list.
   * @param {Room} room
   * @param {{lastReadSeq?: number, unreadCount?: number, mentionCount?: number, unreadMore?: boolean}} listed
   */
  fromList(room, listed) {
    room.lastRead = Math.max(room.lastRead, listed.lastReadSeq ?? 0);
    room.unread = listed.unreadCount ?? 0;
    room.mentions = listed.mentionCount ?? 0;
    room.unreadMore = listed.unreadMore === true;
  }

  /**
   * A message.posted fact applied live: counted as unread when it is someone
   * else's after the read position and the room is not being read. Returns
   * whether it is a new message from someone else.
   * @param {Room} room
   * @param {{user: string, seq: number, data?: {text?: string}}} event
   */
  arrived(room, event) {
    if (event.user === this.#me || event.seq <= room.lastRead) return false;
    if (!(this.#attentive && this.#active === room.id)) {
      room.unread += 1;
      if (mentions(event.data?.text, this.#me)) room.mentions += 1;
    }
    return true;
  }

  /**
   * The user's read position in a room moved (room:read, here or
   * elsewhere): the counts follow, recounted from the messages held when
   * they cover it.
   * @param {{room?: string, seq?: unknown}} data
   */
  onRoomRead({ room: id, seq }) {
    const room = this.#room(id);
    if (!room || typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq <= room.lastRead) return;
    room.lastRead = seq;
    const counts = countAfter(room, seq, this.#me);
    if (counts) {
      room.unread = counts.unread;
      room.mentions = counts.mentions;
      room.unreadMore = false;
    }
    this.#emit('rooms');
  }

  /**
   * The seq the "New messages" divider goes above in a room, or null.
   * @param {string} roomId
   */
  firstUnread(roomId) {
    const room = this.#room(roomId);
    return room ? firstUnread(room, this.#me) : null;
  }

  /**
   * Whether a room's first unread message may be older than those held.
   * @param {string} roomId
   */
  unreadAbove(roomId) {
    const room = this.#room(roomId);
    return room ? unreadAbove(room, this.#me) : false;
  }

  #key() {
    return `chillin.active.${this.#me}`;
  }
}
