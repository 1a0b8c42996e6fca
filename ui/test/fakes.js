// Test doubles for the platform: a manual clock, a scriptable WebSocket and an
// in-memory Web Storage.

export class FakeClock {
  now = 0;
  #timers = new Map();
  #nextId = 1;

  setTimeout = (fn, ms) => {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.now + ms, fn });
    return id;
  };

  clearTimeout = (id) => {
    this.#timers.delete(id);
  };

  get timers() {
    return { setTimeout: this.setTimeout, clearTimeout: this.clearTimeout };
  }

  get pending() {
    return this.#timers.size;
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      let next = null;
      for (const [id, t] of this.#timers) if (t.at <= end && (next === null || t.at < next[1].at)) next = [id, t];
      if (!next) break;
      this.#timers.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = end;
  }
}

/** A WebSocket stand-in: every instance is recorded; tests drive its events. */
export function fakeWebSocketClass() {
  class FakeWebSocket {
    static instances = [];
    sent = [];
    closed = null;
    onopen = null;
    onmessage = null;
    onclose = null;

    constructor(url) {
      this.url = url;
      FakeWebSocket.instances.push(this);
    }

    static get last() {
      return FakeWebSocket.instances.at(-1);
    }

    send(data) {
      this.sent.push(JSON.parse(data));
    }

    close(code, reason) {
      this.closed = { code, reason };
    }

    // Driven by tests:
    open() {
      this.onopen?.({});
    }

    receive(frame) {
      this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
    }

    serverClose(code = 1006) {
      this.onclose?.({ code });
    }

    /** Frames sent so far of one type. */
    sentOf(type) {
      return this.sent.filter((f) => f.type === type);
    }
  }
  return FakeWebSocket;
}

export class MemoryStorage {
  #map = new Map();

  getItem(key) {
    return this.#map.has(key) ? this.#map.get(key) : null;
  }

  setItem(key, value) {
    this.#map.set(key, String(value));
  }

  removeItem(key) {
    this.#map.delete(key);
  }
}
