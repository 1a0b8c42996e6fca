// @ts-check
// ChatClient: the protocol client. It ties the connection, the REST API, the
// outbox and one RoomStore per open room together, and tells views what
// changed through events. It holds no DOM.
//
// It is the coordinator: it routes the server's frames, and the facts each
// room's store applies, to its parts, and keeps their public face. The parts:
// RoomList (the user's rooms, joined on every connection), ReadState (the
// room on screen, unread and mention counts, read positions, the "New
// messages" divider), RoomMembers (member lists and their pages), Sends
// (from the outbox to the server's confirmation), History (pages of history,
// room:sync), Typists (who else is typing), Presence and Profiles.
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
// a seq gap seen live triggers room:sync. Unconfirmed messages live in the
// outbox and are sent again, with the same clientId, once their room is joined.

import { State } from './connection.js';
import { Emitter } from './emitter.js';
import { ChatError } from './errors.js';
import { History } from './history.js';
import { RoomMembers } from './members.js';
import { Presence, STATUSES } from './presence.js';
import { Profiles } from './profiles.js';
import { ReadState } from './readstate.js';
import { RoomList } from './roomlist.js';
import { Kind } from './roomstore.js';
import { Sends } from './sends.js';
import { systemTimers } from './timers.js';
import { Typists } from './typists.js';

/** @typedef {import('./room.js').Room} Room */

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
  #emitter = new Emitter();
  #unsubscribe = [];

  #presence = new Presence();
  #profiles = new Profiles();
  #rooms;
  #read;
  #members;
  #sends;
  #history;
  #typists;

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
    if (profile) this.#profiles.set(me, profile);
    const room = (id) => this.#rooms.get(id);
    const isOpen = (r) => this.#rooms.isOpen(r);
    const emit = (name, payload) => this.#emitter.emit(name, payload);
    const notice = (text) => this.#notice(text);
    const hooks = {
      joined: (r, reply, options) => this.#joined(r, reply, options),
      dropped: (id) => this.#dropped(id),
      listed: (list, first) => this.#listed(list, first),
    };
    this.#rooms = new RoomList({ connection, api, now, hooks, emit, notice });
    this.#read = new ReadState({ me, storage, room, send: (frame) => connection.send(frame), emit });
    this.#members = new RoomMembers({ api, profiles: this.#profiles, presence: this.#presence, timers, isOpen, emit, notice });
    this.#sends = new Sends({ connection, outbox, timers, now, newId, timeoutMs: sendTimeoutMs, me, room, emit });
    const applyEvent = (ev) => this.#onEvent(ev);
    const confirm = (messages) => this.#sends.confirmListed(messages);
    this.#history = new History({ api, connection, isOpen, applyEvent, confirm, emit, notice });
    this.#typists = new Typists({ me, timers, emit });
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
    const active = this.#read.remembered();
    if (active) {
      this.#rooms.ensure(active);
      this.#read.setActive(active);
    }
    for (const entry of this.#outbox.entries()) {
      this.#rooms.ensure(entry.room).store.addPending({ ...entry, user: this.#me });
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
    this.#sends.stop();
    this.#typists.stop();
    this.#members.stop();
    if (forget) {
      this.#outbox.clear();
      this.#storage?.removeItem(this.#openRoomsKey());
      this.#read.forget();
    }
  }

  /** The user's rooms, in the order joined. */
  rooms() {
    return this.#rooms.all();
  }

  room(id) {
    return this.#rooms.get(id) ?? null;
  }

  /** The room on screen, as last set (and remembered across reloads). */
  get activeRoom() {
    return this.#read.active;
  }

  /** A room's members, online ones first, each with its current status, display name and avatar. */
  members(roomId) {
    return this.#members.list(roomId);
  }

  /**
   * How far a room's member list is loaded: hasMore while the server has
   * members after those held (a room past one page), loading while a page
   * is on its way, failed when the last page asked for could not be loaded.
   */
  memberPages(roomId) {
    return this.#members.pages(this.#rooms.get(roomId));
  }

  /** Loads the next page of a room's members, if there is one and none is on its way. */
  async loadMoreMembers(roomId) {
    return this.#members.loadMore(this.#rooms.get(roomId));
  }

  status(user) {
    return this.#presence.status(user);
  }

  displayName(user) {
    return this.#members.displayName(user);
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
    this.#members.presenceChanged({ user: this.#me, status });
    return true;
  }

  /**
   * Makes an uploaded image (its storage key) the user's avatar. Resolves
   * with the updated user; rejects with the server's error (BAD_ATTACHMENT…).
   */
  async setAvatar(key) {
    const user = await this.#api.setAvatar(key);
    this.#members.profileChanged(user);
    return user;
  }

  /**
   * Joins a room (with its password, for a private one) and opens it.
   * Rejects with the server's error (WRONG_PASSWORD, NO_SUCH_ROOM…) or when offline.
   * @param {string} id
   * @param {{password?: string}} [options]
   */
  async openRoom(id, { password } = {}) {
    return this.#rooms.open(id, { password });
  }

  /** Leaves a room: it closes here, its unsent messages are dropped, membership ends. */
  leaveRoom(id) {
    this.#rooms.leave(id);
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
    return this.#sends.send(this.#rooms.require(roomId), text, attachments, replyTo);
  }

  /** How many messages wait to be sent once connected (those that failed wait for Retry instead). */
  get waitingCount() {
    return this.#sends.waiting;
  }

  /** Sends a failed message again with the same clientId. */
  retry(clientId) {
    this.#sends.retry(clientId);
  }

  /** Drops a failed message. */
  discard(clientId) {
    this.#sends.discard(clientId);
  }

  editMessage(roomId, id, text) {
    this.#command('message:edit', { room: roomId, id, text });
  }

  deleteMessage(roomId, id) {
    this.#command('message:delete', { room: roomId, id });
  }

  /** Adds the user's reaction, or removes it if present. */
  toggleReaction(roomId, id, emoji) {
    const message = this.#rooms.require(roomId).store.messageById(id);
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
    return this.#history.loadOlder(this.#rooms.require(roomId));
  }

  /**
   * The room on screen; while the user is attentive its unread count stays
   * at zero and its read position follows what arrives.
   */
  setActiveRoom(id) {
    this.#read.setActive(id, { remember: true });
  }

  /** Whether the user is looking (window focused and visible). */
  setAttentive(attentive) {
    this.#read.setAttentive(attentive);
  }

  /**
   * The seq of the first message the "New messages" divider goes above in
   * a room, or null: the first message by someone else after what was read
   * when the room came on screen.
   * @param {string} roomId
   */
  firstUnread(roomId) {
    return this.#read.firstUnread(roomId);
  }

  /**
   * Whether the first unread message may be older than those held: the
   * divider is set but its message is not loaded yet.
   * @param {string} roomId
   */
  unreadAbove(roomId) {
    return this.#read.unreadAbove(roomId);
  }

  /**
   * A room was closed here: its unsent messages are dropped.
   * @param {string} id
   */
  #dropped(id) {
    this.#sends.drop(id);
    this.#members.drop(id);
    this.#typists.drop(id);
    if (this.#read.active === id) this.setActiveRoom(null);
  }

  /**
   * The server's list of the user's rooms was taken: their read positions
   * and counts too, and the first room goes on screen when none is.
   * @param {import('./roomlist.js').ListedRoom[]} list
   * @param {boolean} first
   */
  #listed(list, first) {
    for (const r of list) this.#read.fromList(this.#rooms.get(r.id), r);
    if (first && this.#read.active === null && list.length > 0) this.#read.setActive(list[0].id);
    this.#read.markRead();
  }

  #onState({ state, previous }) {
    if (state === State.CONNECTED) {
      this.#rooms.connected();
    } else if (previous === State.CONNECTED) {
      this.#sends.lost();
      this.#rooms.lost();
      this.#typists.lost(this.#rooms.all());
      this.#emitter.emit('rooms');
    }
  }

  /**
   * A room was joined on this connection: its timeline goes live, its
   * unsent messages go out, its history and members are loaded.
   * @param {Room} room
   * @param {any} reply the room:join reply
   * @param {{resume: boolean}} options
   */
  #joined(room, reply, { resume }) {
    const before = room.store.version;
    this.#afterApply(room, room.store.startLive(reply.headSeq ?? 0, { resume }), before);
    this.#sends.flush(room);
    if (room.history === 'idle' || room.history === 'error') this.#history.loadLatest(room);
    this.#members.load(room);
    this.#read.markRead();
  }

  #onFrame(frame) {
    const data = frame.data ?? {};
    switch (frame.type) {
      case 'event':
        this.#onEvent(data);
        break;
      case 'rejected':
        if (!this.#sends.rejected(data)) this.#notice(data.message || data.code || 'The server refused a request');
        break;
      case 'typing:update':
        this.#onTyping(data);
        break;
      case 'presence:update':
        this.#members.presenceChanged(data);
        break;
      case 'user:update':
        this.#members.profileChanged(data.user);
        break;
      case 'room:joined':
        this.#rooms.onRoomJoined(data);
        break;
      case 'room:left':
        this.#rooms.onRoomLeft(data);
        break;
      case 'room:read':
        this.#read.onRoomRead(data);
        break;
      case 'hello':
        if (data.user) this.#members.profileChanged(data.user);
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
    if (ev.kind === Kind.MESSAGE_POSTED && ev.user === this.#me && ev.data?.clientId) this.#sends.confirm(ev.data.clientId);
    const before = room.store.version;
    this.#afterApply(room, room.store.applyEvent(ev), before);
  }

  /**
   * After facts were applied to a room's store: members follow the
   * membership facts, new messages are counted and announced, a gap is
   * synced, and the room on screen is read.
   * @param {Room} room
   * @param {{applied: {event: any, live: boolean}[], gap: boolean}} result
   * @param {number} versionBefore
   */
  #afterApply(room, { applied, gap }, versionBefore) {
    const unreadBefore = room.unread;
    for (const { event, live } of applied) {
      if (event.kind === Kind.MEMBER_JOINED || event.kind === Kind.ROOM_CREATED) this.#members.joined(room, event.user);
      else if (event.kind === Kind.MEMBER_LEFT) this.#members.left(room.id, event.user);
      else if (event.kind === Kind.MESSAGE_POSTED && live && this.#read.arrived(room, event)) {
        this.#emitter.emit('incoming', { room: room.id, message: room.store.messageById(event.id) });
      }
    }
    if (gap) this.#history.sync(room);
    if (room.store.version !== versionBefore) this.#emitter.emit('messages', { room: room.id });
    if (room.unread !== unreadBefore) this.#emitter.emit('rooms');
    if (this.#read.active === room.id) this.#read.markRead();
  }

  #onTyping({ room: roomId, users = [] }) {
    const room = this.#rooms.get(roomId);
    if (room) this.#typists.update(room, users);
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
}
