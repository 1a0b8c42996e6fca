// @ts-check
// RoomMembers: the member list of each of the user's rooms. The first page
// comes with every join; the pages after it are loaded when the user asks
// (a room past one page). The membership facts of the log (member.joined,
// member.left) update the lists live; the list itself is a projection of
// the log that may lag behind them, so a newcomer the log has shown stays
// while the list is fetched again a few times.
//
// Display names and avatars come from Profiles, statuses from Presence:
// the member pages feed both, and so do the user:update, hello and
// presence:update frames, which change the lists of the rooms naming the user.

import { naturalCompare } from './format.js';
import { presenceRank } from './presence.js';

/** @typedef {import('./room.js').Room} Room */
/**
 * A member as held: later when it came from a page after the first,
 * unconfirmed (how many lists lacked it) when the log showed it joining
 * before the member list did.
 * @typedef {{user: string, displayName: string, later?: boolean, unconfirmed?: number}} Member
 */
/** @typedef {{user: string, displayName?: string, avatarUrl?: string, status?: string}} ListedMember */

const RELOAD_MS = 200;
const RELOAD_TRIES = 5;

export class RoomMembers {
  /** @type {Map<string, Map<string, Member>>} room id -> user -> member */
  #lists = new Map();
  /** @type {Map<string, any>} room id -> timer of a pending reload */
  #reloads = new Map();
  #api;
  #profiles;
  #presence;
  #timers;
  #isOpen;
  #emit;
  #notice;

  /**
   * isOpen(room): whether the room is still the user's (not left or opened
   * again meanwhile); emit: ChatClient's events ('members', 'profile');
   * notice(text): something to tell the user.
   * @param {object} options
   * @param {import('./api.js').Api} options.api
   * @param {import('./profiles.js').Profiles} options.profiles
   * @param {import('./presence.js').Presence} options.presence
   * @param {import('./timers.js').Timers} options.timers
   * @param {(room: Room) => boolean} options.isOpen
   * @param {(name: string, payload?: object) => void} options.emit
   * @param {(text: string) => void} options.notice
   */
  constructor({ api, profiles, presence, timers, isOpen, emit, notice }) {
    this.#api = api;
    this.#profiles = profiles;
    this.#presence = presence;
    this.#timers = timers;
    this.#isOpen = isOpen;
    this.#emit = emit;
    this.#notice = notice;
  }

  /**
   * A room's members, online ones first, each with its current status,
   * display name and avatar.
   * @param {string} roomId
   */
  list(roomId) {
    const members = [...(this.#lists.get(roomId)?.values() ?? [])].map((m) => ({
      ...m,
      displayName: this.displayName(m.user),
      avatarUrl: this.#profiles.avatarUrl(m.user),
      status: this.#presence.status(m.user),
    }));
    /** @param {{status: string}} m */
    const rank = (m) => presenceRank(m.status);
    return members.sort((a, b) => rank(a) - rank(b) || naturalCompare(a.displayName, b.displayName));
  }

  /**
   * A user's display name: the latest profile, else the name a member list
   * gave, else the username.
   * @param {string} user
   */
  displayName(user) {
    const name = this.#profiles.displayName(user);
    if (name) return name;
    for (const members of this.#lists.values()) {
      const fromList = members.get(user)?.displayName;
      if (fromList) return fromList;
    }
    return user;
  }

  /**
   * How far a room's member list is loaded (see ChatClient.memberPages).
   * @param {Room | undefined} room
   */
  pages(room) {
    return {
      hasMore: Boolean(room && room.membersNext !== null),
      loading: Boolean(room?.membersLoading),
      failed: Boolean(room?.membersFailed),
    };
  }

  /**
   * Loads the next page of a room's members, if there is one and none is on its way.
   * @param {Room | undefined} room
   */
  async loadMore(room) {
    if (!room || room.membersLoading || room.membersNext === null) return;
    const roomId = room.id;
    room.membersLoading = true;
    this.#emit('members', { room: roomId });
    try {
      const page = await this.#api.members(roomId, { cursor: room.membersNext });
      if (!this.#isOpen(room)) return;
      let members = this.#lists.get(roomId);
      if (!members) {
        members = new Map();
        this.#lists.set(roomId, members);
      }
      for (const m of page.members) {
        const held = members.get(m.user);
        if (!held || held.unconfirmed) members.set(m.user, { user: m.user, displayName: m.displayName || m.user, later: true });
        this.#heard(m);
      }
      room.membersNext = page.next;
      room.membersPaged = true;
      room.membersFailed = false;
    } catch (err) {
      room.membersFailed = true;
      this.#notice(`Could not load more members: ${err.message}`);
    } finally {
      room.membersLoading = false;
      this.#emit('members', { room: roomId });
    }
  }

  /**
   * Loads the first page of a room's members. The pages after it that the
   * user asked for stay (their members are not on this page), unless the
   * first page is now the whole list.
   * @param {Room} room
   */
  async load(room) {
    let page;
    try {
      page = await this.#api.members(room.id);
    } catch {
      // The member list is an extra: the room works without it, and it is fetched again on the next join.
      return;
    }
    if (!this.#isOpen(room)) return;
    /** @type {Map<string, Member>} */
    const members = new Map();
    for (const m of page.members) {
      members.set(m.user, { user: m.user, displayName: m.displayName || m.user });
      this.#heard(m);
    }
    const held = this.#lists.get(room.id);
    if (page.next === null) {
      room.membersNext = null;
      room.membersPaged = false;
    } else if (room.membersPaged) {
      for (const [user, m] of held ?? []) if (m.later && !members.has(user)) members.set(user, m);
    } else {
      room.membersNext = page.next;
    }
    // The list is a projection of the log and may lag behind the joins the
    // log has already shown here (the user's own, right after joining): those
    // stay, and the list is asked for again a few times.
    let behind = false;
    for (const [user, m] of held ?? []) {
      if (!m.unconfirmed || members.has(user)) continue;
      members.set(user, { ...m, unconfirmed: m.unconfirmed + 1 });
      behind ||= m.unconfirmed < RELOAD_TRIES;
    }
    this.#lists.set(room.id, members);
    this.#emit('members', { room: room.id });
    if (behind) this.#reload(room);
  }

  /**
   * The log showed a user joining a room (member.joined, or room.created
   * by its creator).
   * @param {Room} room
   * @param {string} user
   */
  joined(room, user) {
    let members = this.#lists.get(room.id);
    if (!members) {
      // Joined before the list came: kept through its arrival (see load).
      members = new Map();
      this.#lists.set(room.id, members);
    }
    if (members.has(user)) return;
    members.set(user, { user, displayName: this.displayName(user), unconfirmed: 1 });
    this.#emit('members', { room: room.id });
    // The fact names only the user: the member list has the newcomer's display
    // name and presence.
    this.#reload(room);
  }

  /**
   * The log showed a user leaving a room (member.left).
   * @param {string} roomId
   * @param {string} user
   */
  left(roomId, user) {
    if (this.#lists.get(roomId)?.delete(user)) this.#emit('members', { room: roomId });
  }

  /**
   * Someone's profile changed ({id, username, displayName, avatarUrl}: a
   * user:update, the hello frame, the user's own avatar): the rooms listing
   * them and the 'profile' event follow.
   * @param {{id?: string, username?: string, displayName?: string, avatarUrl?: string} | null | undefined} user
   */
  profileChanged(user) {
    const id = user?.id ?? user?.username;
    if (typeof id !== 'string' || id === '') return;
    if (!this.#profiles.set(id, user)) return;
    this.#changed(id);
    this.#emit('profile', { user: id });
  }

  /**
   * Someone's status changed (a presence:update, the user's own presence:set).
   * @param {{user?: string, status?: string}} data
   */
  presenceChanged({ user, status }) {
    if (!user || !status) return;
    this.#presence.set(user, status);
    this.#changed(user);
  }

  /**
   * Forgets a room's list (the room was closed here).
   * @param {string} roomId
   */
  drop(roomId) {
    this.#lists.delete(roomId);
  }

  /** Cancels the pending reloads. */
  stop() {
    for (const timer of this.#reloads.values()) this.#timers.clearTimeout(timer);
    this.#reloads.clear();
  }

  /**
   * Fetches a room's member list again shortly; calls close together share one fetch.
   * @param {Room} room
   */
  #reload(room) {
    if (this.#reloads.has(room.id)) return;
    this.#reloads.set(
      room.id,
      this.#timers.setTimeout(() => {
        this.#reloads.delete(room.id);
        this.load(room);
      }, RELOAD_MS),
    );
  }

  /**
   * A user's presence or profile changed: every room listing them changed.
   * @param {string} user
   */
  #changed(user) {
    for (const [roomId, members] of this.#lists) {
      if (members.has(user)) this.#emit('members', { room: roomId });
    }
  }

  /** @param {ListedMember} m */
  #heard(m) {
    this.#profiles.set(m.user, m);
    if (m.status) this.#presence.set(m.user, m.status);
  }
}
