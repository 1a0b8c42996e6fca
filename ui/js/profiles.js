// @ts-check
// Profiles: the latest known display name and avatar of each user, from any
// source (the hello frame, member lists, user:update frames, the user's own
// avatar change).

/** @typedef {{displayName: string, avatarUrl: string}} Profile */

export class Profiles {
  /** @type {Map<string, Profile>} */
  #profiles = new Map();

  /**
   * Records a user's display name and avatar; returns whether anything
   * changed. A missing display name keeps the one known; an avatar is only
   * ever one of the server's own file paths (never loaded from elsewhere).
   * @param {string} user
   * @param {{displayName?: unknown, avatarUrl?: unknown}} profile
   */
  set(user, { displayName, avatarUrl }) {
    const before = this.#profiles.get(user);
    const next = {
      displayName: typeof displayName === 'string' && displayName ? displayName : (before?.displayName ?? ''),
      avatarUrl: typeof avatarUrl === 'string' && avatarUrl.startsWith('/api/files/') ? avatarUrl : '',
    };
    if (before && before.displayName === next.displayName && before.avatarUrl === next.avatarUrl) return false;
    this.#profiles.set(user, next);
    return true;
  }

  /**
   * The user's display name, '' when none is known.
   * @param {string} user
   */
  displayName(user) {
    return this.#profiles.get(user)?.displayName ?? '';
  }

  /**
   * The path of the user's avatar image, '' when they have none.
   * @param {string} user
   */
  avatarUrl(user) {
    return this.#profiles.get(user)?.avatarUrl ?? '';
  }
}
