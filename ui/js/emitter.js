// A minimal synchronous event emitter shared by the logic modules.

export class Emitter {
  #handlers = new Map();

  /** Subscribes fn to name; returns a function that unsubscribes it. */
  on(name, fn) {
    let set = this.#handlers.get(name);
    if (!set) {
      set = new Set();
      this.#handlers.set(name, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  }

  emit(name, payload) {
    const set = this.#handlers.get(name);
    if (!set) return;
    for (const fn of [...set]) fn(payload);
  }
}
