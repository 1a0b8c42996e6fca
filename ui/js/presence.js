// @ts-check
// Presence: who is online, away or busy, as last heard (presence:update
// frames, the member lists, the user's own presence:set). A user never heard
// of is offline.

/** The statuses a user can choose (presence:set). */
export const STATUSES = Object.freeze(['online', 'away', 'busy']);

/** @typedef {'online' | 'away' | 'busy' | 'offline'} Status */

/** @type {Readonly<Record<string, number>>} */
const ORDER = Object.freeze({ online: 0, busy: 1, away: 2 });

export class Presence {
  /** @type {Map<string, string>} user -> status */
  #status = new Map();

  /**
   * Records a user's status; returns whether it changed.
   * @param {string} user
   * @param {string} status
   */
  set(user, status) {
    if (this.#status.get(user) === status) return false;
    this.#status.set(user, status);
    return true;
  }

  /**
   * The user's status as last heard, 'offline' when never heard of.
   * @param {string} user
   * @returns {string}
   */
  status(user) {
    return this.#status.get(user) ?? 'offline';
  }

  /**
   * A status one may choose (online, away or busy) for the user: theirs when
   * it is one, 'online' otherwise.
   * @param {string} user
   */
  chosen(user) {
    const status = this.#status.get(user);
    return status && STATUSES.includes(status) ? status : 'online';
  }
}

/**
 * Sort rank of a status in member lists: online first, then busy, away, offline.
 * @param {string} status
 */
export function presenceRank(status) {
  return ORDER[status] ?? 3;
}
