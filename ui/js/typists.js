// @ts-check
// Typists: who else is typing in each of the user's rooms, as the last
// typing:update said (room.typing). A typing:update that never gets its
// follow-up (a peer gone mid-sentence) fades out on its own.

/** @typedef {import('./room.js').Room} Room */

/** How long a typing:update holds without a follow-up. */
export const TYPING_EXPIRY_MS = 10000;

export class Typists {
  /** @type {Map<string, any>} room id -> timer that clears who is typing */
  #expiries = new Map();
  #me;
  #timers;
  #emit;

  /**
   * emit: ChatClient's events ('typing').
   * @param {object} options
   * @param {string} options.me
   * @param {import('./timers.js').Timers} options.timers
   * @param {(name: string, payload?: object) => void} options.emit
   */
  constructor({ me, timers, emit }) {
    this.#me = me;
    this.#timers = timers;
    this.#emit = emit;
  }

  /**
   * A typing:update: who is typing in a room now (the user aside).
   * @param {Room} room
   * @param {string[]} users
   */
  update(room, users) {
    const roomId = room.id;
    room.typing = users.filter((u) => u !== this.#me);
    this.#timers.clearTimeout(this.#expiries.get(roomId));
    this.#expiries.set(
      roomId,
      this.#timers.setTimeout(() => {
        this.#expiries.delete(roomId);
        room.typing = [];
        this.#emit('typing', { room: roomId });
      }, TYPING_EXPIRY_MS),
    );
    this.#emit('typing', { room: roomId });
  }

  /**
   * The connection dropped: nobody is known to be typing any more.
   * @param {Iterable<Room>} rooms
   */
  lost(rooms) {
    for (const room of rooms) {
      if (room.typing.length) {
        room.typing = [];
        this.#emit('typing', { room: room.id });
      }
    }
  }

  /**
   * Forgets a room (closed here).
   * @param {string} roomId
   */
  drop(roomId) {
    this.#timers.clearTimeout(this.#expiries.get(roomId));
    this.#expiries.delete(roomId);
  }

  /** Cancels every pending fade-out. */
  stop() {
    for (const timer of this.#expiries.values()) this.#timers.clearTimeout(timer);
    this.#expiries.clear();
  }
}
