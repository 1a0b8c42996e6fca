// @ts-check
// RoomStore: what the client knows of one room's timeline. It folds room
// facts (by seq, gap-free), history pages (by id) and the user's own unsent
// messages (by clientId) into one ordered list of items.
//
// Items are replaced, never mutated, when they change, so a view can tell a
// changed item by identity. Every change bumps `version`.

import { normalizeAttachments } from './format.js';

export const MessageState = Object.freeze({
  SENDING: 'SENDING',
  SENT: 'SENT',
  FAILED: 'FAILED',
});

export const Kind = Object.freeze({
  ROOM_CREATED: 'room.created',
  MEMBER_JOINED: 'member.joined',
  MEMBER_LEFT: 'member.left',
  MESSAGE_POSTED: 'message.posted',
  MESSAGE_EDITED: 'message.edited',
  MESSAGE_DELETED: 'message.deleted',
  REACTION_ADDED: 'reaction.added',
  REACTION_REMOVED: 'reaction.removed',
});

const SYSTEM_KINDS = new Set([Kind.ROOM_CREATED, Kind.MEMBER_JOINED, Kind.MEMBER_LEFT]);

/**
 * The stable key of a message: by (author, clientId) when it has a clientId,
 * so an optimistic message and its confirmation share one key; else by id.
 */
export function messageKey(user, clientId, id) {
  return clientId ? `c:${user}:${clientId}` : `m:${id}`;
}

export class RoomStore {
  #items = new Map(); // key -> item
  #keyById = new Map(); // fact id -> key
  #pendingKeys = new Map(); // clientId -> key, for items not yet confirmed
  #sorted = null;
  #lastSeq = 0;
  #anchored = false;
  #backfill = null; // {head, last}: the replay window after a join without `after`
  #buffer = new Map(); // seq -> fact received ahead of a gap
  #hasMore = true;
  #version = 0;

  /** The highest seq up to which every fact has been applied. */
  get lastSeq() {
    return this.#lastSeq;
  }

  /** Whether a join reply has fixed where the live facts start. */
  get anchored() {
    return this.#anchored;
  }

  /** Whether facts are held back waiting for missing seqs. */
  get hasGap() {
    return this.#buffer.size > 0;
  }

  /** Whether older history may exist on the server. */
  get hasMore() {
    return this.#hasMore;
  }

  get version() {
    return this.#version;
  }

  /** The smallest message id held, to page history back from; null if none. */
  get oldestId() {
    let oldest = null;
    for (const item of this.#items.values()) {
      if (item.kind === 'message' && item.id !== null && (oldest === null || item.id < oldest)) oldest = item.id;
    }
    return oldest;
  }

  /** The items in order: confirmed ones by id, then unsent ones in the order written. */
  list() {
    if (!this.#sorted) {
      const items = [...this.#items.values()];
      const confirmed = items.filter((i) => i.id !== null).sort((a, b) => a.id - b.id);
      const unsent = items.filter((i) => i.id === null);
      this.#sorted = confirmed.concat(unsent);
    }
    return this.#sorted;
  }

  messageById(id) {
    const key = this.#keyById.get(id);
    return key === undefined ? null : this.#items.get(key);
  }

  /**
   * Anchors the live stream at a join reply. After a fresh join (resume
   * false) the server replays recent facts up to headSeq: they are applied
   * once each, and live facts continue after headSeq. After a join with
   * `after` (resume true) facts continue after lastSeq. Facts that arrived
   * before the anchor are applied now. Returns what applyEvent returns.
   */
  startLive(headSeq, { resume }) {
    if (!resume) {
      this.#lastSeq = headSeq;
      this.#backfill = { head: headSeq, last: 0 };
    } else {
      this.#backfill = null;
    }
    this.#anchored = true;
    const held = [...this.#buffer.values()].sort((a, b) => a.seq - b.seq);
    this.#buffer.clear();
    const applied = held.flatMap((ev) => this.applyEvent(ev).applied);
    return { applied, gap: this.hasGap };
  }

  /**
   * Applies one room fact ({room, seq, id, kind, user, at, data}).
   * Returns {applied: [{event, live}], gap}: the facts applied (held ones
   * included once their turn comes; live is false for a join's replay), and
   * whether this fact revealed a gap, in which case the caller fetches the
   * facts after lastSeq.
   */
  applyEvent(ev) {
    const result = { applied: [], gap: false };
    this.#confirmEarly(ev);
    if (!this.#anchored) {
      this.#buffer.set(ev.seq, ev);
      return result;
    }
    if (this.#backfill && ev.seq <= this.#backfill.head) {
      if (ev.seq > this.#backfill.last) {
        this.#backfill.last = ev.seq;
        this.#apply(ev);
        result.applied.push({ event: ev, live: false });
      }
      return result;
    }
    if (ev.seq <= this.#lastSeq) return result;
    if (ev.seq > this.#lastSeq + 1) {
      this.#buffer.set(ev.seq, ev);
      result.gap = true;
      return result;
    }
    this.#applyNext(ev, result);
    while (this.#buffer.has(this.#lastSeq + 1)) {
      const next = this.#buffer.get(this.#lastSeq + 1);
      this.#buffer.delete(next.seq);
      this.#applyNext(next, result);
    }
    return result;
  }

  /**
   * Adds history messages (message objects, from the REST API) that are not
   * held yet; a held message is newer than or as new as a page. events are
   * the page's membership facts (room.created, member.joined, member.left,
   * as event frames carry them): each shows as the line its live fact shows,
   * once, whichever came first. hasMore, when given, records whether older
   * messages remain. Neither moves lastSeq: history is not the live stream.
   * @param {any[]} messages
   * @param {{hasMore?: boolean, events?: any[]}} [options]
   */
  applyHistory(messages, { hasMore, events = [] } = {}) {
    for (const m of messages) {
      const key = messageKey(m.user, m.clientId, m.id);
      if (this.#items.get(key)?.state === MessageState.SENT) continue;
      this.#put(messageItem(m));
    }
    for (const ev of events) {
      if (SYSTEM_KINDS.has(ev?.kind) && Number.isSafeInteger(ev.id) && !this.#items.has(systemKey(ev.id))) this.#put(systemItem(ev));
    }
    if (hasMore !== undefined && hasMore !== this.#hasMore) {
      this.#hasMore = hasMore;
      this.#changed();
    }
  }

  /** Shows an unsent message of the user's: {clientId, user, text, attachments, createdAt, error}. */
  addPending({ clientId, user, text, attachments = [], createdAt, replyTo = null, error = null }) {
    const key = messageKey(user, clientId, null);
    if (this.#items.has(key)) return;
    this.#pendingKeys.set(clientId, key);
    this.#put({
      kind: 'message',
      key,
      id: null,
      seq: null,
      user,
      text,
      attachments: normalizeAttachments(attachments),
      replyTo: replyTo || null,
      clientId,
      createdAt,
      editedAt: null,
      deleted: false,
      reactions: {},
      state: error ? MessageState.FAILED : MessageState.SENDING,
      error,
    });
  }

  markFailed(clientId, error) {
    this.#updatePending(clientId, { state: MessageState.FAILED, error });
  }

  markSending(clientId) {
    this.#updatePending(clientId, { state: MessageState.SENDING, error: null });
  }

  removePending(clientId) {
    const key = this.#pendingKeys.get(clientId);
    if (key === undefined) return;
    this.#pendingKeys.delete(clientId);
    this.#items.delete(key);
    this.#changed();
  }

  /**
   * A confirmation of the user's own message is shown at once, even when it
   * arrives ahead of a gap or again after a resend: its seq is handled as
   * usual afterwards, and applying it twice changes nothing.
   */
  #confirmEarly(ev) {
    if (ev.kind !== Kind.MESSAGE_POSTED || !ev.data?.clientId) return;
    const key = this.#pendingKeys.get(ev.data.clientId);
    if (key !== undefined && key === messageKey(ev.user, ev.data.clientId, ev.id)) this.#apply(ev);
  }

  #applyNext(ev, result) {
    this.#lastSeq = ev.seq;
    this.#apply(ev);
    result.applied.push({ event: ev, live: true });
  }

  #apply(ev) {
    const data = ev.data ?? {};
    switch (ev.kind) {
      case Kind.MESSAGE_POSTED: {
        const item = messageItem({ ...data, id: ev.id, seq: ev.seq, user: ev.user, createdAt: data.createdAt ?? ev.at });
        if (this.#items.get(item.key)?.state !== MessageState.SENT) this.#put(item);
        return;
      }
      case Kind.MESSAGE_EDITED:
        return this.#update(data.id, (m) => ({ ...m, text: data.text, editedAt: data.editedAt ?? ev.at }));
      case Kind.MESSAGE_DELETED:
        return this.#update(data.id, (m) => ({ ...m, deleted: true, text: '', attachments: [], reactions: {} }));
      case Kind.REACTION_ADDED:
        return this.#update(data.id, (m) => withReaction(m, data.emoji, ev.user, true));
      case Kind.REACTION_REMOVED:
        return this.#update(data.id, (m) => withReaction(m, data.emoji, ev.user, false));
      default:
        if (SYSTEM_KINDS.has(ev.kind)) this.#put(systemItem(ev));
    }
  }

  #put(item) {
    this.#items.set(item.key, item);
    if (item.id !== null) {
      this.#keyById.set(item.id, item.key);
      if (this.#pendingKeys.get(item.clientId) === item.key) this.#pendingKeys.delete(item.clientId);
    }
    this.#changed();
  }

  #update(id, fn) {
    const key = this.#keyById.get(id);
    const item = key === undefined ? undefined : this.#items.get(key);
    if (!item || item.kind !== 'message') return;
    const next = fn(item);
    if (next === item) return;
    this.#items.set(key, next);
    this.#changed();
  }

  #updatePending(clientId, patch) {
    const key = this.#pendingKeys.get(clientId);
    const item = key === undefined ? undefined : this.#items.get(key);
    if (!item) return;
    this.#items.set(key, { ...item, ...patch });
    this.#changed();
  }

  #changed() {
    this.#sorted = null;
    this.#version += 1;
  }
}

function messageItem(m) {
  return {
    kind: 'message',
    key: messageKey(m.user, m.clientId, m.id),
    id: m.id,
    seq: m.seq ?? null,
    user: m.user,
    text: m.deleted ? '' : (m.text ?? ''),
    attachments: m.deleted ? [] : normalizeAttachments(m.attachments),
    replyTo: Number.isSafeInteger(m.replyTo) && m.replyTo > 0 ? m.replyTo : null,
    clientId: m.clientId || null,
    createdAt: m.createdAt,
    editedAt: m.editedAt ?? null,
    deleted: Boolean(m.deleted),
    reactions: m.reactions ?? {},
    state: MessageState.SENT,
    error: null,
  };
}

/** The key of the line of a membership fact, live or from history. */
function systemKey(id) {
  return `e:${id}`;
}

function systemItem(ev) {
  return { kind: 'system', key: systemKey(ev.id), id: ev.id, seq: ev.seq, event: ev.kind, user: ev.user, createdAt: ev.at };
}

function withReaction(message, emoji, user, add) {
  const users = message.reactions[emoji] ?? [];
  if (users.includes(user) === add) return message;
  const next = add ? [...users, user] : users.filter((u) => u !== user);
  const reactions = { ...message.reactions };
  if (next.length) reactions[emoji] = next;
  else delete reactions[emoji];
  return { ...message, reactions };
}
