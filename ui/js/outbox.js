// @ts-check
// The outbox: every message the user has written that the server has not yet
// confirmed, in the order written, kept in a Storage (localStorage in the
// browser) so that a reload loses nothing.
//
// An entry is pending (error null: to be sent, or sent and awaiting its
// confirmation) or failed (error set: rejected or timed out, waiting for the
// user to retry or discard it). Resending an entry reuses its clientId, which
// the server deduplicates, so a message can never appear twice.

export class Outbox {
  #storage;
  #key;
  #entries;
  #inFlight = new Set();

  /**
   * storage: an object with getItem/setItem/removeItem (the Web Storage API),
   * or null to keep the outbox in memory only. key: the storage key, one per user.
   */
  /** @param {{storage?: Storage | null, key?: string}} [options] */
  constructor({ storage = null, key = 'chillin.outbox' } = {}) {
    this.#storage = storage;
    this.#key = key;
    this.#entries = this.#load();
  }

  /** The entries in the order written, optionally only those of one room. */
  entries(room) {
    return this.#entries.filter((e) => room === undefined || e.room === room).map((e) => ({ ...e }));
  }

  get(clientId) {
    const entry = this.#find(clientId);
    return entry ? { ...entry } : null;
  }

  /**
   * Adds a message to the end of the queue, pending. attachments: the
   * {key, name, contentType, size} of files already in storage.
   */
  enqueue({ clientId, room, text, attachments = [], createdAt, replyTo = null }) {
    if (this.#find(clientId)) throw new Error(`outbox: duplicate clientId ${clientId}`);
    const entry = { clientId, room, text, attachments: attachments.map((a) => ({ ...a })), createdAt, ...(replyTo ? { replyTo } : {}), error: null };
    this.#entries.push(entry);
    this.#save();
    return { ...entry };
  }

  /**
   * Sends every pending entry (of `room`, if given) that is not already in
   * flight, in order, by calling send(entry). An entry stays in flight until it
   * is confirmed, fails, or resetInFlight() is called (the connection dropped),
   * so flushing again sends nothing twice. Returns the entries sent.
   */
  flush(send, room) {
    const sent = [];
    for (const entry of this.#entries) {
      if (entry.error || this.#inFlight.has(entry.clientId)) continue;
      if (room !== undefined && entry.room !== room) continue;
      this.#inFlight.add(entry.clientId);
      sent.push({ ...entry });
    }
    for (const entry of sent) send(entry);
    return sent;
  }

  isInFlight(clientId) {
    return this.#inFlight.has(clientId);
  }

  /** Forgets what was in flight: the next flush sends it again. */
  resetInFlight() {
    this.#inFlight.clear();
  }

  /** The server confirmed the message: it leaves the outbox. Returns whether it was there. */
  confirm(clientId) {
    return this.#remove(clientId);
  }

  /** The user gave up on a failed message. Returns whether it was there. */
  discard(clientId) {
    return this.#remove(clientId);
  }

  /** Marks an entry failed with {code, message, retryAt?}; flush skips it until retry(). */
  fail(clientId, error) {
    const entry = this.#find(clientId);
    if (!entry) return null;
    entry.error = { ...error };
    this.#inFlight.delete(clientId);
    this.#save();
    return { ...entry };
  }

  /** Makes a failed entry pending again, keeping its clientId and its place. */
  retry(clientId) {
    const entry = this.#find(clientId);
    if (!entry) return null;
    entry.error = null;
    this.#save();
    return { ...entry };
  }

  /** Empties the outbox and its storage (on log out). */
  clear() {
    this.#entries = [];
    this.#inFlight.clear();
    this.#storage?.removeItem(this.#key);
  }

  #find(clientId) {
    return this.#entries.find((e) => e.clientId === clientId);
  }

  #remove(clientId) {
    const index = this.#entries.findIndex((e) => e.clientId === clientId);
    if (index < 0) return false;
    this.#entries.splice(index, 1);
    this.#inFlight.delete(clientId);
    this.#save();
    return true;
  }

  #load() {
    try {
      const raw = this.#storage?.getItem(this.#key);
      if (raw == null) return [];
      const parsed = JSON.parse(raw);
      return Array.isArray(parsed) ? parsed.filter(isEntry).map((e) => ({ ...e, attachments: e.attachments ?? [], error: e.error ?? null })) : [];
    } catch {
      // Unreadable storage or a corrupt value: start empty rather than not at all.
      return [];
    }
  }

  #save() {
    if (!this.#storage) return;
    try {
      if (this.#entries.length === 0) this.#storage.removeItem(this.#key);
      else this.#storage.setItem(this.#key, JSON.stringify(this.#entries));
    } catch {
      // Storage full or unavailable (private browsing): the outbox keeps working in memory.
    }
  }
}

function isEntry(e) {
  return (
    e !== null &&
    typeof e === 'object' &&
    typeof e.clientId === 'string' &&
    typeof e.room === 'string' &&
    typeof e.text === 'string' &&
    typeof e.createdAt === 'string' &&
    (e.attachments == null || (Array.isArray(e.attachments) && e.attachments.every(isAttachment))) &&
    (e.error == null || typeof e.error === 'object')
  );
}

function isAttachment(a) {
  return a !== null && typeof a === 'object' && typeof a.key === 'string' && typeof a.name === 'string' && typeof a.contentType === 'string' && Number.isFinite(a.size);
}
