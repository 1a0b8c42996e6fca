// @ts-check
// A minimal synchronous event emitter shared by the logic modules.

export class Emitter {
  #handlers = new Map();

  /**
   * Subscribes fn to name; returns a function that unsubscribes it.
   * @param {string} name
   * @param {(payload: any) => void} fn
   * @returns {() => boolean}
   */
  on(name, fn) {
    let set = this.#handlers.get(name);
    if (!set) {
      set = new Set();
      this.#handlers.set(name, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  }

  /**
   * @param {string} name
   * @param {unknown} [payload]
   */
  emit(name, payload) {
    const set = this.#handlers.get(name);
    if (!set) return;
    for (const fn of [...set]) fn(payload);
  }
}
