// @ts-check
// ChatClient: the protocol client. It ties the connection, the REST API, the
// outbox and one RoomStore per open room together, and tells views what
// changed through events. It holds no DOM.
//
// The user's rooms are the account's (GET /api/me/rooms): the same list, in
// the order joined, with the same read positions and unread counts on every
// tab and device. A join, leave or read anywhere reaches every socket of the
// user (`room:joined`, `room:left`, `room:read`). Reading the room on screen
// is reported with `room:read`; the gateway coalesces the reports.
//
// Recovery: each room keeps its last applied seq. Whenever the connection
// opens, the room list is fetched again, then every room in it is joined
// again with `after: lastSeq`, so the server replays exactly what was missed;
// a seq gap seen live triggers room:sync.
// Unconfirmed messages live in the outbox and are sent again, with the same
// clientId, once their room is joined.

import { State } from './connection.js';
import { Emitter } from './emitter.js';
import { ChatError, LocalCode } from './errors.js';
import { naturalCompare, normalizeAttachments, validateMessage } from './format.js';
import { Presence, presenceRank, STATUSES } from './presence.js';
import { Profiles } from './profiles.js';
import { Kind, RoomStore } from './roomstore.js';
import { systemTimers } from './timers.js';

const HISTORY_PAGE = 50;
const TYPING_EXPIRY_MS = 10000;
const MEMBERS_RELOAD_MS = 200;
const MEMBERS_RELOAD_TRIES = 5;
// A room opened here this recently may be missing from a room list that
// lags behind the log: it is not taken for a room left elsewhere.
const LIST_LAG_MS = 10000;
export { STATUSES };

/**
 * Events:
 *   rooms         the user's rooms, their join state, unread counts or read positions changed
 *   messages      {room}: a room's timeline changed
 *   incoming      {room, message}: a new message from someone else arrived live
 *   typing        {room}: who is typing in a room changed
 *   members       {room}: a room's member list, someone's presence or profile changed
 *   profile       {user}: a user's display name or avatar changed (the user's own too)
 *   notice        {text}: something the user should be told briefly (a refused command, a failed load)
 *   unauthorized  the session ended; log in again
 */
export class ChatClient {
  #conn;
  #api;
  #outbox;
  #me;
  #storage;
  #timers;
  #now;
  #newId;
  #sendTimeoutMs;
  #emitter = new Emitter();
  #unsubscribe = [];

  #rooms = new Map(); // id -> room state, in the order opened
  #members = new Map(); // room id -> Map(user -> {user, displayName, avatarUrl})
  #presence = new Presence();
  #profiles = new Profiles();
  #sendTimers = new Map(); // clientId -> timer
  #typingTimers = new Map(); // room id -> timer
  #membersTimers = new Map(); // room id -> timer of a pending member list reload
  #active = null;
  #attentive = true;
  #opening = new Set(); // rooms with an openRoom on its way
  #listed = false; // whether the server's room list arrived once

  /**
   * connection: a Connection; api: an Api; outbox: an Outbox for this user;
   * me: the user's username; profile: the user's {displayName, avatarUrl};
   * storage: Web Storage for the room on screen.
   * @param {object} options
   * @param {import('./connection.js').Connection} options.connection
   * @param {import('./api.js').Api} options.api
   * @param {import('./outbox.js').Outbox} options.outbox
   * @param {string} options.me
   * @param {{displayName?: string, avatarUrl?: string} | null} [options.profile]
   * @param {Storage | null} [options.storage]
   * @param {import('./timers.js').Timers} [options.timers]
   * @param {() => number} [options.now]
   * @param {() => string} [options.newId]
   * @param {number} [options.sendTimeoutMs]
   */
  constructor({
    connection,
    api,
    outbox,
    me,
    profile = null,
    storage = null,
    timers = systemTimers,
    now = Date.now,
    newId = () => globalThis.crypto.randomUUID(),
    sendTimeoutMs = 10000,
  }) {
    this.#conn = connection;
    this.#api = api;
    this.#outbox = outbox;
    this.#me = me;
    this.#storage = storage;
    this.#timers = timers;
    this.#now = now;
    this.#newId = newId;
    this.#sendTimeoutMs = sendTimeoutMs;
    if (profile) this.#profiles.set(me, profile);
  }

  get me() {
    return this.#me;
  }

  on(name, fn) {
    return this.#emitter.on(name, fn);
  }

  /**
   * Restores the room on screen and unsent messages, then connects; the
   * rest of the user's rooms come from the server once connected.
   */
  start() {
    const active = this.#storage?.getItem(this.#activeKey());
    if (active) {
      this.#ensureRoom(active);
      this.#active = active;
    }
    for (const entry of this.#outbox.entries()) {
      this.#ensureRoom(entry.room).store.addPending({ ...entry, user: this.#me });
    }
    this.#unsubscribe = [
      this.#conn.on('state', (s) => this.#onState(s)),
      this.#conn.on('frame', (f) => this.#onFrame(f)),
      this.#conn.on('unauthorized', () => this.#emitter.emit('unauthorized')),
    ];
    this.#emitter.emit('rooms');
    this.#conn.connect();
  }

  /** Disconnects. With forget, also drops the unsent messages and the open rooms (log out). */
  stop({ forget = false } = {}) {
    for (const off of this.#unsubscribe) off();
    this.#unsubscribe = [];
    this.#conn.disconnect();
    for (const timer of [...this.#sendTimers.values(), ...this.#typingTimers.values(), ...this.#membersTimers.values()]) {
      this.#timers.clearTimeout(timer);
    }
    this.#sendTimers.clear();
    this.#typingTimers.clear();
    this.#membersTimers.clear();
    if (forget) {
      this.#outbox.clear();
      this.#storage?.removeItem(this.#openRoomsKey());
      this.#storage?.removeItem(this.#activeKey());
    }
  }

  /** The user's rooms, in the order joined. */
  rooms() {
    return [...this.#rooms.values()];
  }

  room(id) {
    return this.#rooms.get(id) ?? null;
  }

  /** The room on screen, as last set (and remembered across reloads). */
  get activeRoom() {
    return this.#active;
  }

  /** A room's members, online ones first, each with its current status, display name and avatar. */
  members(roomId) {
    const members = [...(this.#members.get(roomId)?.values() ?? [])].map((m) => ({
      ...m,
      displayName: this.displayName(m.user),
      avatarUrl: this.avatarUrl(m.user),
      status: this.status(m.user),
    }));
    const rank = (m) => presenceRank(m.status);
    return members.sort((a, b) => rank(a) - rank(b) || naturalCompare(a.displayName, b.displayName));
  }

  /**
   * How far a room's member list is loaded: hasMore while the server has
   * members after those held (a room past one page), loading while a page
   * is on its way, failed when the last page asked for could not be loaded.
   */
  memberPages(roomId) {
    const room = this.#rooms.get(roomId);
    return {
      hasMore: Boolean(room && room.membersNext !== null),
      loading: Boolean(room?.membersLoading),
      failed: Boolean(room?.membersFailed),
    };
  }

  /** Loads the next page of a room's members, if there is one and none is on its way. */
  async loadMoreMembers(roomId) {
    const room = this.#rooms.get(roomId);
    if (!room || room.membersLoading || room.membersNext === null) return;
    room.membersLoading = true;
    this.#emitter.emit('members', { room: roomId });
    try {
      const page = await this.#api.members(roomId, { cursor: room.membersNext });
      if (this.#rooms.get(roomId) !== room) return;
      let members = this.#members.get(roomId);
      if (!members) {
        members = new Map();
        this.#members.set(roomId, members);
      }
      for (const m of page.members) {
        const held = members.get(m.user);
        if (!held || held.unconfirmed) members.set(m.user, { user: m.user, displayName: m.displayName || m.user, later: true });
        this.#profiles.set(m.user, m);
        if (m.status) this.#presence.set(m.user, m.status);
      }
      room.membersNext = page.next;
      room.membersPaged = true;
      room.membersFailed = false;
    } catch (err) {
      room.membersFailed = true;
      this.#notice(`Could not load more members: ${err.message}`);
    } finally {
      room.membersLoading = false;
      this.#emitter.emit('members', { room: roomId });
    }
  }

  status(user) {
    return this.#presence.status(user);
  }

  displayName(user) {
    const name = this.#profiles.displayName(user);
    if (name) return name;
    for (const members of this.#members.values()) {
      const fromList = members.get(user)?.displayName;
      if (fromList) return fromList;
    }
    return user;
  }

  /** The path of a user's avatar image, or '' when they have none (initials are shown). */
  avatarUrl(user) {
    return this.#profiles.avatarUrl(user);
  }

  /**
   * The user's own chosen status (online, away or busy). Others see it
   * while the user has the app open anywhere.
   */
  get myStatus() {
    return this.#presence.chosen(this.#me);
  }

  /** Tells everyone in the user's rooms the chosen status. Returns false when offline. */
  setStatus(status) {
    if (!STATUSES.includes(status)) throw new ChatError('BAD_STATUS', `Unknown status ${JSON.stringify(status)}`);
    if (!this.#conn.send({ type: 'presence:set', data: { status } })) {
      this.#notice('You are offline: your status can be changed once reconnected');
      return false;
    }
    this.#onPresence({ user: this.#me, status });
    return true;
  }

  /**
   * Makes an uploaded image (its storage key) the user's avatar. Resolves
   * with the updated user; rejects with the server's error (BAD_ATTACHMENT…).
   */
  async setAvatar(key) {
    const user = await this.#api.setAvatar(key);
    this.#onUserUpdate({ user });
    return user;
  }

  /**
   * Joins a room (with its password, for a private one) and opens it.
   * Rejects with the server's error (WRONG_PASSWORD, NO_SUCH_ROOM…) or when offline.
   * @param {string} id
   * @param {{password?: string}} [options]
   */
  async openRoom(id, { password } = {}) {
    const open = this.#rooms.get(id);
    if (open) return open;
    this.#opening.add(id);
    let reply;
    try {
      reply = await this.#conn.request('room:join', { room: id, ...(password ? { password } : {}) });
    } finally {
      this.#opening.delete(id);
    }
    const held = this.#rooms.get(id);
    if (held?.joined) return held; // joined meanwhile, through room:joined
    const room = this.#ensureRoom(id);
    room.addedAt = this.#now();
    this.#joined(room, reply, { resume: false });
    return room;
  }

  /** Leaves a room: it closes here, its unsent messages are dropped, membership ends. */
  leaveRoom(id) {
    if (!this.#rooms.has(id)) return;
    this.#dropRoom(id);
    this.#conn.request('room:leave', { room: id }).catch(() => {
      // Offline or refused: the room is closed here either way.
    });
    this.#emitter.emit('rooms');
  }

  /** Closes a room here: its unsent messages are dropped. */
  #dropRoom(id) {
    for (const entry of this.#outbox.entries(id)) {
      this.#clearSendTimer(entry.clientId);
      this.#outbox.discard(entry.clientId);
    }
    this.#rooms.delete(id);
    this.#members.delete(id);
    this.#timers.clearTimeout(this.#typingTimers.get(id));
    this.#typingTimers.delete(id);
    if (this.#active === id) this.setActiveRoom(null);
  }

  /**
   * Sends a message optimistically; returns its clientId. attachments: the
   * {key, name, contentType, size} of files already uploaded; with any, the
   * text may be blank (it is then sent empty). replyTo: the id of the
   * message answered. Throws a ChatError for invalid text.
   * @param {string} roomId
   * @param {string} text
   * @param {{key: string, name: string, contentType: string, size: number}[]} [attachments]
   * @param {{replyTo?: number | null}} [options]
   */
  send(roomId, text, attachments = [], { replyTo = null } = {}) {
    const room = this.#requireRoom(roomId);
    const invalid = validateMessage(text, attachments.length);
    if (invalid) throw new ChatError(invalid, invalid === 'EMPTY_MESSAGE' ? 'The message is empty' : 'The message is too long');
    const entry = this.#outbox.enqueue({
      clientId: this.#newId(),
      room: roomId,
      text: text.trim() === '' ? '' : text,
      attachments: normalizeAttachments(attachments).map(({ key, name, contentType, size }) => ({ key, name, contentType, size })),
      createdAt: new Date(this.#now()).toISOString(),
      replyTo,
    });
    room.store.addPending({ ...entry, user: this.#me });
    this.#emitter.emit('messages', { room: roomId });
    this.#flushRoom(room);
    return entry.clientId;
  }

  /** How many messages wait to be sent once connected (those that failed wait for Retry instead). */
  get waitingCount() {
    return this.#outbox.entries().filter((e) => !e.error).length;
  }

  /** Sends a failed message again with the same clientId. */
  retry(clientId) {
    const entry = this.#outbox.retry(clientId);
    const room = entry && this.#rooms.get(entry.room);
    if (!room) return;
    room.store.markSending(clientId);
    this.#emitter.emit('messages', { room: room.id });
    this.#flushRoom(room);
  }

  /** Drops a failed message. */
  discard(clientId) {
    const entry = this.#outbox.get(clientId);
    if (!entry) return;
    this.#clearSendTimer(clientId);
    this.#outbox.discard(clientId);
    const room = this.#rooms.get(entry.room);
    if (!room) return;
    room.store.removePending(clientId);
    this.#emitter.emit('messages', { room: room.id });
  }

  editMessage(roomId, id, text) {
    this.#command('message:edit', { room: roomId, id, text });
  }

  deleteMessage(roomId, id) {
    this.#command('message:delete', { room: roomId, id });
  }

  /** Adds the user's reaction, or removes it if present. */
  toggleReaction(roomId, id, emoji) {
    const message = this.#requireRoom(roomId).store.messageById(id);
    if (!message) return;
    const mine = (message.reactions[emoji] ?? []).includes(this.#me);
    this.#command(mine ? 'reaction:remove' : 'reaction:add', { room: roomId, id, emoji });
  }

  /** type: 'typing:start' or 'typing:stop'. Dropped when the room is not joined. */
  sendTyping(roomId, type) {
    if (this.#rooms.get(roomId)?.joined) this.#conn.send({ type, data: { room: roomId } });
  }

  /** Pages history back from the oldest message held. Resolves when done. */
  async loadOlder(roomId) {
    const room = this.#requireRoom(roomId);
    if (room.loadingOlder || room.history !== 'loaded' || !room.store.hasMore) return;
    room.loadingOlder = true;
    this.#emitter.emit('messages', { room: roomId });
    try {
      const page = await this.#api.messages(roomId, { before: room.store.oldestId, limit: HISTORY_PAGE });
      this.#applyHistory(room, page);
    } catch (err) {
      this.#notice(`Could not load older messages: ${err.message}`);
    } finally {
      room.loadingOlder = false;
      this.#emitter.emit('messages', { room: roomId });
    }
  }

  /**
   * The room on screen; while the user is attentive its unread count stays
   * at zero and its read position follows what arrives.
   */
  setActiveRoom(id) {
    if (id !== this.#active) {
      // The "New messages" divider marks what was unread when the room came on screen.
      const before = this.#rooms.get(this.#active);
      if (before) before.divider = null;
      const next = this.#rooms.get(id);
      if (next) next.divider = null;
    }
    this.#active = id;
    try {
      if (id === null) this.#storage?.removeItem(this.#activeKey());
      else this.#storage?.setItem(this.#activeKey(), id);
    } catch {
      // Storage unavailable: the first open room is shown after a reload instead.
    }
    this.#markRead();
  }

  /** Whether the user is looking (window focused and visible). */
  setAttentive(attentive) {
    this.#attentive = attentive;
    this.#markRead();
  }

  /**
   * Reads the room on screen, if the user is looking: its counts go to zero
   * and its read position to the last fact applied, reported to the server
   * (which tells the user's other tabs and devices).
   */
  #markRead() {
    const room = this.#attentive && this.#rooms.get(this.#active);
    if (!room) return;
    let changed = false;
    if (room.unread > 0 || room.mentions > 0) {
      if (room.divider === null) room.divider = room.lastRead;
      room.unread = 0;
      room.mentions = 0;
      changed = true;
    }
    const seq = room.store.lastSeq;
    if (room.joined && seq > room.lastRead) {
      room.lastRead = seq;
      this.#conn.send({ type: 'room:read', data: { room: room.id, seq } });
      changed = true;
    }
    if (changed) this.#emitter.emit('rooms');
  }

  /**
   * The seq of the first message the "New messages" divider goes above in
   * a room, or null: the first message by someone else after what was read
   * when the room came on screen.
   * @param {string} roomId
   */
  firstUnread(roomId) {
    const room = this.#rooms.get(roomId);
    if (!room || room.divider === null) return null;
    const first = room.store.list().find((i) => i.kind === 'message' && i.seq !== null && i.seq > room.divider && i.user !== this.#me);
    return first ? first.seq : null;
  }

  /**
   * Whether the first unread message may be older than those held: the
   * divider is set but its message is not loaded yet.
   * @param {string} roomId
   */
  unreadAbove(roomId) {
    const room = this.#rooms.get(roomId);
    if (!room || room.divider === null || this.firstUnread(roomId) !== null) return false;
    return room.store.hasMore && room.divider < (room.store.list().find((i) => i.seq !== null)?.seq ?? 0);
  }

  #ensureRoom(id) {
    let room = this.#rooms.get(id);
    if (!room) {
      room = {
        id,
        info: null,
        store: new RoomStore(),
        joined: false,
        error: null,
        unread: 0,
        mentions: 0, // unread messages that name the user (@username)
        lastRead: 0, // the room seq read up to, the account's (room:read)
        divider: null, // the read position the "New messages" divider follows, while on screen
        addedAt: -Infinity, // when opened here (a room list may lag behind it)
        joining: false, // a room:join of #rejoin on its way
        typing: [],
        syncing: false,
        history: 'idle', // idle | loading | loaded | error
        loadingOlder: false,
        memberCount: 0,
        onlineCount: 0,
        membersNext: null, // the cursor of the member page after those held, null when none follows
        membersPaged: false, // whether pages after the first were loaded
        membersLoading: false,
        membersFailed: false,
      };
      this.#rooms.set(id, room);
    }
    return room;
  }

  #requireRoom(id) {
    const room = this.#rooms.get(id);
    if (!room) throw new ChatError('NOT_OPEN', `Room ${id} is not open`);
    return room;
  }

  #onState({ state, previous }) {
    if (state === State.CONNECTED) {
      this.#connected();
    } else if (previous === State.CONNECTED) {
      this.#onLost();
    }
  }

  #onLost() {
    this.#outbox.resetInFlight();
    for (const timer of this.#sendTimers.values()) this.#timers.clearTimeout(timer);
    this.#sendTimers.clear();
    for (const room of this.#rooms.values()) {
      room.joined = false;
      room.syncing = false;
      if (room.typing.length) {
        room.typing = [];
        this.#emitter.emit('typing', { room: room.id });
      }
    }
    this.#emitter.emit('rooms');
  }

  /**
   * Fetches the user's rooms, then joins each on this connection: a room
   * left elsewhere meanwhile is not joined again.
   */
  async #connected() {
    await this.#refreshRooms();
    if (this.#conn.state !== State.CONNECTED) return;
    for (const room of this.#rooms.values()) if (!room.joined && !room.joining) this.#rejoin(room);
  }

  /**
   * Takes the user's rooms, their order, read positions and counts from the
   * server. A room held here that the list lacks was left elsewhere (unless
   * it was opened here too recently for the list to show it).
   */
  async #refreshRooms() {
    const asked = this.#now();
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
      if (!ids.has(room.id) && room.addedAt < asked - LIST_LAG_MS && !this.#opening.has(room.id)) this.#dropRoom(room.id);
    }
    for (const r of list) {
      const room = this.#ensureRoom(r.id);
      room.info ??= r;
      if (!room.memberCount) room.memberCount = r.memberCount ?? 0;
      if (!room.onlineCount) room.onlineCount = r.onlineCount ?? 0;
      room.lastRead = Math.max(room.lastRead, r.lastReadSeq ?? 0);
      room.unread = r.unreadCount ?? 0;
      room.mentions = r.mentionCount ?? 0;
    }
    const held = [...this.#rooms.values()];
    this.#rooms = new Map([...list.map((r) => this.#rooms.get(r.id)), ...held.filter((r) => !ids.has(r.id))].map((r) => [r.id, r]));
    if (!this.#listed && this.#active === null && list.length > 0) this.#active = list[0].id;
    this.#listed = true;
    this.#markRead();
    this.#emitter.emit('rooms');
  }

  /** Another tab or device of the user joined a room (or created one). */
  #onRoomJoined({ room: id }) {
    if (typeof id !== 'string' || this.#rooms.has(id) || this.#opening.has(id)) return;
    const room = this.#ensureRoom(id);
    room.addedAt = this.#now();
    if (this.#conn.state === State.CONNECTED) this.#rejoin(room);
    this.#emitter.emit('rooms');
  }

  /** The user left a room, here or elsewhere. */
  #onRoomLeft({ room: id }) {
    if (!this.#rooms.has(id)) return;
    this.#dropRoom(id);
    this.#emitter.emit('rooms');
  }

  /**
   * The user's read position in a room moved (here or elsewhere): the
   * counts follow, recounted from the messages held when they cover it.
   */
  #onRoomRead({ room: id, seq }) {
    const room = this.#rooms.get(id);
    if (!room || !Number.isSafeInteger(seq) || seq <= room.lastRead) return;
    room.lastRead = seq;
    if (seq >= room.store.lastSeq) {
      room.unread = 0;
      room.mentions = 0;
    } else {
      const items = room.store.list().filter((i) => i.kind === 'message' && i.seq !== null);
      if (!room.store.hasMore || (items.length > 0 && items[0].seq <= seq + 1)) {
        const after = items.filter((i) => i.seq > seq && i.user !== this.#me && !i.deleted);
        room.unread = after.length;
        room.mentions = after.filter((i) => this.#mentionsMe(i.text)).length;
      }
    }
    this.#emitter.emit('rooms');
  }

  /** Whether a text names the user: @username, not inside a longer name. */
  #mentionsMe(text) {
    const at = `@${this.#me}`;
    const lower = String(text ?? '').toLowerCase();
    for (let i = lower.indexOf(at); i !== -1; i = lower.indexOf(at, i + 1)) {
      const before = i === 0 ? '' : lower[i - 1];
      const after = lower[i + at.length] ?? '';
      if (!/[a-z0-9_-]/.test(before) && !/[a-z0-9_-]/.test(after)) return true;
    }
    return false;
  }

  #rejoin(room) {
    const resume = room.store.anchored;
    const data = { room: room.id, ...(resume ? { after: room.store.lastSeq } : {}) };
    room.joining = true;
    this.#conn.request('room:join', data).then(
      (reply) => {
        room.joining = false;
        if (this.#rooms.get(room.id) === room) this.#joined(room, reply, { resume });
      },
      (err) => {
        room.joining = false;
        if (err.code === LocalCode.DISCONNECTED || this.#rooms.get(room.id) !== room) return;
        room.error = err;
        this.#emitter.emit('rooms');
        this.#notice(`Could not join #${room.id}: ${err.message}`);
      },
    );
  }

  #joined(room, reply, { resume }) {
    room.joined = true;
    room.error = null;
    room.info = reply.room ?? room.info;
    room.memberCount = Number.isFinite(reply.room?.memberCount) ? reply.room.memberCount : countOf(reply.members);
    room.onlineCount = countOf(reply.online);
    const before = room.store.version;
    this.#afterApply(room, room.store.startLive(reply.headSeq ?? 0, { resume }), before);
    this.#flushRoom(room);
    if (room.history === 'idle' || room.history === 'error') this.#loadLatest(room);
    this.#loadMembers(room);
    this.#markRead();
    this.#emitter.emit('rooms');
  }

  async #loadLatest(room) {
    room.history = 'loading';
    try {
      const page = await this.#api.messages(room.id, { limit: HISTORY_PAGE });
      room.history = 'loaded';
      this.#applyHistory(room, page);
    } catch (err) {
      room.history = 'error';
      this.#notice(`Could not load the history of #${room.id}: ${err.message}`);
    }
    this.#emitter.emit('messages', { room: room.id });
  }

  #applyHistory(room, { messages, hasMore }) {
    room.store.applyHistory(messages, { hasMore });
    for (const m of messages) {
      if (m.user === this.#me && m.clientId && this.#outbox.get(m.clientId)) this.#confirmSend(m.clientId);
    }
  }

  /**
   * Loads the first page of a room's members. The pages after it that the
   * user asked for stay (their members are not on this page), unless the
   * first page is now the whole list.
   */
  async #loadMembers(room) {
    let page;
    try {
      page = await this.#api.members(room.id);
    } catch {
      // The member list is an extra: the room works without it, and it is fetched again on the next join.
      return;
    }
    if (this.#rooms.get(room.id) !== room) return;
    const members = new Map();
    for (const m of page.members) {
      members.set(m.user, { user: m.user, displayName: m.displayName || m.user });
      this.#profiles.set(m.user, m);
      if (m.status) this.#presence.set(m.user, m.status);
    }
    if (page.next === null) {
      room.membersNext = null;
      room.membersPaged = false;
    } else if (room.membersPaged) {
      for (const [user, m] of this.#members.get(room.id) ?? []) if (m.later && !members.has(user)) members.set(user, m);
    } else {
      room.membersNext = page.next;
    }
    // The list is a projection of the log and may lag behind the joins the
    // log has already shown here (the user's own, right after joining): those
    // stay, and the list is asked for again a few times.
    let behind = false;
    for (const [user, m] of this.#members.get(room.id) ?? []) {
      if (!m.unconfirmed || members.has(user)) continue;
      members.set(user, { ...m, unconfirmed: m.unconfirmed + 1 });
      behind ||= m.unconfirmed < MEMBERS_RELOAD_TRIES;
    }
    this.#members.set(room.id, members);
    this.#emitter.emit('members', { room: room.id });
    if (behind) this.#reloadMembers(room);
  }

  #onFrame(frame) {
    const data = frame.data ?? {};
    switch (frame.type) {
      case 'event':
        this.#onEvent(data);
        break;
      case 'rejected':
        this.#onRejected(data);
        break;
      case 'typing:update':
        this.#onTyping(data);
        break;
      case 'presence:update':
        this.#onPresence(data);
        break;
      case 'user:update':
        this.#onUserUpdate(data);
        break;
      case 'room:joined':
        this.#onRoomJoined(data);
        break;
      case 'room:left':
        this.#onRoomLeft(data);
        break;
      case 'room:read':
        this.#onRoomRead(data);
        break;
      case 'hello':
        if (data.user) this.#onUserUpdate({ user: data.user });
        break;
      case 'error':
        // A frame the gateway could not read: a protocol mismatch, not something the user can act on.
        console.warn(`chillin: server error ${data.code}: ${data.message}`);
        break;
    }
  }

  #onEvent(ev) {
    const room = this.#rooms.get(ev.room);
    if (!room) return;
    if (ev.kind === Kind.MESSAGE_POSTED && ev.user === this.#me && ev.data?.clientId) this.#confirmSend(ev.data.clientId);
    const before = room.store.version;
    this.#afterApply(room, room.store.applyEvent(ev), before);
  }

  #afterApply(room, { applied, gap }, versionBefore) {
    const unreadBefore = room.unread;
    for (const { event, live } of applied) {
      if (event.kind === Kind.MEMBER_JOINED) this.#memberJoined(room, event.user);
      else if (event.kind === Kind.MEMBER_LEFT) this.#memberLeft(room.id, event.user);
      else if (event.kind === Kind.MESSAGE_POSTED && live && event.user !== this.#me && event.seq > room.lastRead) {
        if (!(this.#attentive && this.#active === room.id)) {
          room.unread += 1;
          if (this.#mentionsMe(event.data?.text)) room.mentions += 1;
        }
        this.#emitter.emit('incoming', { room: room.id, message: room.store.messageById(event.id) });
      }
    }
    if (gap) this.#sync(room);
    if (room.store.version !== versionBefore) this.#emitter.emit('messages', { room: room.id });
    if (room.unread !== unreadBefore) this.#emitter.emit('rooms');
    if (this.#active === room.id) this.#markRead();
  }

  /** Fetches the facts after lastSeq, again while the server says there are more. */
  #sync(room) {
    if (room.syncing || !room.joined) return;
    room.syncing = true;
    const from = room.store.lastSeq;
    this.#conn.request('room:sync', { room: room.id, after: from }).then(
      (reply) => {
        if (this.#rooms.get(room.id) !== room) return;
        for (const ev of reply.events ?? []) this.#onEvent(ev);
        room.syncing = false;
        const progressed = room.store.lastSeq > from;
        if (progressed && (reply.complete === false || room.store.hasGap)) this.#sync(room);
      },
      () => {
        // Disconnected or refused: the next join with `after` recovers what is missing.
        room.syncing = false;
      },
    );
  }

  #memberJoined(room, user) {
    let members = this.#members.get(room.id);
    if (!members) {
      // Joined before the list came: kept through its arrival (see #loadMembers).
      members = new Map();
      this.#members.set(room.id, members);
    }
    if (members.has(user)) return;
    members.set(user, { user, displayName: this.displayName(user), unconfirmed: 1 });
    this.#emitter.emit('members', { room: room.id });
    // The fact names only the user: the member list has the newcomer's display
    // name and presence.
    this.#reloadMembers(room);
  }

  /** Fetches a room's member list again shortly; calls close together share one fetch. */
  #reloadMembers(room) {
    if (this.#membersTimers.has(room.id)) return;
    this.#membersTimers.set(
      room.id,
      this.#timers.setTimeout(() => {
        this.#membersTimers.delete(room.id);
        this.#loadMembers(room);
      }, MEMBERS_RELOAD_MS),
    );
  }

  #memberLeft(roomId, user) {
    if (this.#members.get(roomId)?.delete(user)) this.#emitter.emit('members', { room: roomId });
  }

  #onRejected(data) {
    if (data.clientId && this.#outbox.get(data.clientId)) {
      const retryAt = data.retryAfterMs ? this.#now() + data.retryAfterMs : null;
      this.#failSend(data.clientId, { code: data.code, message: data.message || data.code, retryAt });
    } else {
      this.#notice(data.message || data.code || 'The server refused a request');
    }
  }

  #onTyping({ room: roomId, users = [] }) {
    const room = this.#rooms.get(roomId);
    if (!room) return;
    room.typing = users.filter((u) => u !== this.#me);
    this.#timers.clearTimeout(this.#typingTimers.get(roomId));
    // A typing:update that never gets its follow-up (a peer gone mid-sentence) fades out on its own.
    this.#typingTimers.set(
      roomId,
      this.#timers.setTimeout(() => {
        this.#typingTimers.delete(roomId);
        room.typing = [];
        this.#emitter.emit('typing', { room: roomId });
      }, TYPING_EXPIRY_MS),
    );
    this.#emitter.emit('typing', { room: roomId });
  }

  /** Someone's profile changed ({user: {id, username, displayName, avatarUrl}}). */
  #onUserUpdate({ user }) {
    const id = user?.id ?? user?.username;
    if (typeof id !== 'string' || id === '') return;
    if (!this.#profiles.set(id, user)) return;
    for (const [roomId, members] of this.#members) {
      if (members.has(id)) this.#emitter.emit('members', { room: roomId });
    }
    this.#emitter.emit('profile', { user: id });
  }

  #onPresence({ user, status }) {
    if (!user || !status) return;
    this.#presence.set(user, status);
    for (const [roomId, members] of this.#members) {
      if (members.has(user)) this.#emitter.emit('members', { room: roomId });
    }
  }

  #flushRoom(room) {
    if (room.joined) this.#outbox.flush((entry) => this.#transmit(entry), room.id);
  }

  #transmit({ room, clientId, text, attachments = [], replyTo = null }) {
    const data = { room, clientId, text, ...(attachments.length ? { attachments } : {}), ...(replyTo ? { replyTo } : {}) };
    if (!this.#conn.send({ type: 'message:send', data })) return;
    this.#clearSendTimer(clientId);
    this.#sendTimers.set(
      clientId,
      this.#timers.setTimeout(() => {
        this.#sendTimers.delete(clientId);
        this.#failSend(clientId, { code: LocalCode.TIMEOUT, message: 'The server did not confirm in time', retryAt: null });
      }, this.#sendTimeoutMs),
    );
  }

  #confirmSend(clientId) {
    this.#clearSendTimer(clientId);
    this.#outbox.confirm(clientId);
  }

  #failSend(clientId, error) {
    this.#clearSendTimer(clientId);
    const entry = this.#outbox.fail(clientId, error);
    const room = entry && this.#rooms.get(entry.room);
    if (!room) return;
    room.store.markFailed(clientId, error);
    this.#emitter.emit('messages', { room: room.id });
  }

  #clearSendTimer(clientId) {
    this.#timers.clearTimeout(this.#sendTimers.get(clientId));
    this.#sendTimers.delete(clientId);
  }

  #command(type, data) {
    if (!this.#conn.send({ type, data })) this.#notice('You are offline: try again once reconnected');
  }

  #notice(text) {
    this.#emitter.emit('notice', { text });
  }

  /** Where earlier versions kept the list of open rooms: removed on log out. */
  #openRoomsKey() {
    return `chillin.rooms.${this.#me}`;
  }

  #activeKey() {
    return `chillin.active.${this.#me}`;
  }

}

/** The join reply's members/online: a count, or a list to count. */
function countOf(value) {
  if (Array.isArray(value)) return value.length;
  return Number.isFinite(value) ? value : 0;
}
