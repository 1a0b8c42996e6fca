// @ts-check
// Sends: the messages the user writes, from the composer to the server's
// confirmation. A message is shown at once (pending in its room's store),
// kept in the outbox until confirmed, sent once its room is joined, and
// marked failed when the server rejects it or does not confirm it in time;
// the user then retries it (same clientId, which the server deduplicates)
// or discards it.

import { ChatError, LocalCode } from './errors.js';
import { normalizeAttachments, validateMessage } from './format.js';

/** @typedef {import('./room.js').Room} Room */
/** @typedef {{key: string, name: string, contentType: string, size: number}} Attachment */
/** @typedef {{code: string, message: string, retryAt: number | null}} SendError */

export class Sends {
  /** @type {Map<string, any>} clientId -> timer of the confirmation awaited */
  #waits = new Map();
  #conn;
  #outbox;
  #timers;
  #now;
  #newId;
  #timeoutMs;
  #me;
  #room;
  #emit;

  /**
   * room(id): the user's room with that id; emit: ChatClient's events ('messages').
   * @param {object} options
   * @param {{send: (frame: {type: string, data: object}) => boolean}} options.connection
   * @param {import('./outbox.js').Outbox} options.outbox
   * @param {import('./timers.js').Timers} options.timers
   * @param {() => number} options.now
   * @param {() => string} options.newId
   * @param {number} options.timeoutMs how long a sent message waits for its confirmation
   * @param {string} options.me
   * @param {(id: string) => Room | undefined} options.room
   * @param {(name: string, payload?: object) => void} options.emit
   */
  constructor({ connection, outbox, timers, now, newId, timeoutMs, me, room, emit }) {
    this.#conn = connection;
    this.#outbox = outbox;
    this.#timers = timers;
    this.#now = now;
    this.#newId = newId;
    this.#timeoutMs = timeoutMs;
    this.#me = me;
    this.#room = room;
    this.#emit = emit;
  }

  /**
   * Sends a message optimistically; returns its clientId (see ChatClient.send).
   * @param {Room} room
   * @param {string} text
   * @param {Attachment[]} attachments
   * @param {number | null} replyTo
   */
  send(room, text, attachments, replyTo) {
    const invalid = validateMessage(text, attachments.length);
    if (invalid) throw new ChatError(invalid, invalid === 'EMPTY_MESSAGE' ? 'The message is empty' : 'The message is too long');
    const entry = this.#outbox.enqueue({
      clientId: this.#newId(),
      room: room.id,
      text: text.trim() === '' ? '' : text,
      attachments: normalizeAttachments(attachments).map(({ key, name, contentType, size }) => ({ key, name, contentType, size })),
      createdAt: new Date(this.#now()).toISOString(),
      replyTo,
    });
    room.store.addPending({ ...entry, user: this.#me });
    this.#emit('messages', { room: room.id });
    this.flush(room);
    return entry.clientId;
  }

  /** How many messages wait to be sent once connected (those that failed wait for Retry instead). */
  get waiting() {
    return this.#outbox.entries().filter((e) => !e.error).length;
  }

  /**
   * Sends a failed message again with the same clientId.
   * @param {string} clientId
   */
  retry(clientId) {
    const entry = this.#outbox.retry(clientId);
    const room = entry && this.#room(entry.room);
    if (!room) return;
    room.store.markSending(clientId);
    this.#emit('messages', { room: room.id });
    this.flush(room);
  }

  /**
   * Drops a failed message.
   * @param {string} clientId
   */
  discard(clientId) {
    const entry = this.#outbox.get(clientId);
    if (!entry) return;
    this.#clear(clientId);
    this.#outbox.discard(clientId);
    const room = this.#room(entry.room);
    if (!room) return;
    room.store.removePending(clientId);
    this.#emit('messages', { room: room.id });
  }

  /**
   * Drops the unsent messages of a room (closed here).
   * @param {string} roomId
   */
  drop(roomId) {
    for (const entry of this.#outbox.entries(roomId)) {
      this.#clear(entry.clientId);
      this.#outbox.discard(entry.clientId);
    }
  }

  /**
   * Sends a room's unsent messages, in order, once it is joined.
   * @param {Room} room
   */
  flush(room) {
    if (room.joined) this.#outbox.flush((entry) => this.#transmit(entry), room.id);
  }

  /**
   * The server confirmed a message of the user's (its message.posted).
   * @param {string} clientId
   */
  confirm(clientId) {
    this.#clear(clientId);
    this.#outbox.confirm(clientId);
  }

  /**
   * Confirms the user's unconfirmed messages found in a page of history.
   * @param {{user: string, clientId?: string}[]} messages
   */
  confirmListed(messages) {
    for (const m of messages) {
      if (m.user === this.#me && m.clientId && this.#outbox.get(m.clientId)) this.confirm(m.clientId);
    }
  }

  /**
   * A `rejected` frame: fails the message it names and returns true, or
   * returns false when it names none of the user's unconfirmed messages.
   * @param {{clientId?: string, code?: string, message?: string, retryAfterMs?: number}} data
   */
  rejected(data) {
    if (!data.clientId || !this.#outbox.get(data.clientId)) return false;
    const retryAt = data.retryAfterMs ? this.#now() + data.retryAfterMs : null;
    this.#fail(data.clientId, { code: data.code, message: data.message || data.code, retryAt });
    return true;
  }

  /** The connection dropped: what was in flight is sent again after re-joining. */
  lost() {
    this.#outbox.resetInFlight();
    this.stop();
  }

  /** Stops waiting for confirmations. */
  stop() {
    for (const timer of this.#waits.values()) this.#timers.clearTimeout(timer);
    this.#waits.clear();
  }

  /** @param {{room: string, clientId: string, text: string, attachments?: Attachment[], replyTo?: number | null}} entry */
  #transmit({ room, clientId, text, attachments = [], replyTo = null }) {
    const data = { room, clientId, text, ...(attachments.length ? { attachments } : {}), ...(replyTo ? { replyTo } : {}) };
    if (!this.#conn.send({ type: 'message:send', data })) return;
    this.#clear(clientId);
    this.#waits.set(
      clientId,
      this.#timers.setTimeout(() => {
        this.#waits.delete(clientId);
        this.#fail(clientId, { code: LocalCode.TIMEOUT, message: 'The server did not confirm in time', retryAt: null });
      }, this.#timeoutMs),
    );
  }

  /**
   * @param {string} clientId
   * @param {SendError} error
   */
  #fail(clientId, error) {
    this.#clear(clientId);
    const entry = this.#outbox.fail(clientId, error);
    const room = entry && this.#room(entry.room);
    if (!room) return;
    room.store.markFailed(clientId, error);
    this.#emit('messages', { room: room.id });
  }

  /** @param {string} clientId */
  #clear(clientId) {
    this.#timers.clearTimeout(this.#waits.get(clientId));
    this.#waits.delete(clientId);
  }
}
