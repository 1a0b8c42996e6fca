// DOM helpers. Text always goes in as text nodes or textContent: nothing
// here parses HTML, so user data can never become markup.

import { initials, nameHue } from '../format.js';

const SVG = 'http://www.w3.org/2000/svg';

/**
 * Creates an element. props: `class`, `text` (textContent), `dataset`,
 * `on<event>` listeners, `hidden`/boolean attributes, or any attribute.
 * Children are nodes or strings (appended as text); null and false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = value;
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

/** An icon from the sprite inlined in index.html, hidden from assistive technology. */
export function icon(name, className = '') {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', `icon ${className}`.trim());
  svg.setAttribute('aria-hidden', 'true');
  const use = document.createElementNS(SVG, 'use');
  use.setAttribute('href', `#icon-${name}`);
  svg.append(use);
  return svg;
}

export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

/** The waits before loading a stored image again after a failure. */
const IMAGE_RETRY_MS = [500, 1500, 4000];

/**
 * Loads url into img, trying again a few times when it fails: a file that
 * was just posted may not be servable for a moment (the server's read
 * model catches up with the message a little later). giveUp() runs once it
 * has failed for good; nothing runs for an image no longer in the page.
 */
export function loadImage(img, url, giveUp) {
  let attempt = 0;
  img.addEventListener('error', () => {
    if (attempt >= IMAGE_RETRY_MS.length) return giveUp();
    const wait = IMAGE_RETRY_MS[attempt];
    attempt += 1;
    setTimeout(() => {
      if (!img.isConnected) return;
      img.src = `${url}${url.includes('?') ? '&' : '?'}try=${attempt}`;
    }, wait);
  });
  img.src = url;
}

/**
 * A round avatar: the user's picture when url is given, over their initials
 * in the user's colour, which show while it loads and if it cannot.
 */
export function avatar(user, displayName = user, className = '', url = '') {
  const el = h('span', { class: `avatar ${className}`.trim(), 'aria-hidden': 'true', dataset: { user, name: displayName, url } }, initials(displayName));
  el.style.setProperty('--hue', String(nameHue(user)));
  if (url) {
    const img = h('img', { class: 'avatar-img', alt: '', loading: 'lazy', decoding: 'async', draggable: 'false' });
    img.addEventListener('load', () => el.classList.add('has-image'), { once: true });
    el.append(img);
    loadImage(img, url, () => img.remove());
  }
  return el;
}

/**
 * An avatar that reuses `previous` (an element made by avatar()) when it
 * shows the same user, name and picture: moving an element keeps its loaded
 * image, where a new one would fetch the picture again.
 */
export function reuseAvatar(previous, user, displayName, className, url) {
  const d = previous?.dataset;
  if (d && d.user === user && d.name === displayName && d.url === url && previous.className === `avatar ${className}`.trim()) return previous;
  return avatar(user, displayName, className, url);
}

/**
 * Makes `old` look like `fresh` (a node just built for the same place),
 * changing only what differs and keeping every node it can: attributes
 * are set and removed, text updated, children matched by position, and a
 * node of another kind replaced. Listeners are those of the old nodes:
 * what is patched listens by delegation. Returns the node now in place.
 * @param {Node} old
 * @param {Node} fresh
 * @returns {Node}
 */
export function patch(old, fresh) {
  if (old.nodeType !== fresh.nodeType || old.nodeName !== fresh.nodeName || !(old instanceof Element || old instanceof Text)) {
    old.parentNode?.replaceChild(fresh, old);
    return fresh;
  }
  if (old instanceof Text) {
    if (old.data !== /** @type {Text} */ (fresh).data) old.data = /** @type {Text} */ (fresh).data;
    return old;
  }
  const from = /** @type {Element} */ (fresh);
  for (const { name } of [...old.attributes]) if (!from.hasAttribute(name)) old.removeAttribute(name);
  for (const { name, value } of [...from.attributes]) if (old.getAttribute(name) !== value) old.setAttribute(name, value);
  const had = [...old.childNodes];
  const want = [...from.childNodes];
  want.forEach((child, i) => (i < had.length ? patch(had[i], child) : old.append(child)));
  for (const extra of had.slice(want.length)) extra.remove();
  return old;
}

/**
 * Makes list's children the items (elements just built, each with a
 * distinct `data-key`), in their order, keeping the child of each key and
 * patching it to look like its item: a list that refreshes while someone
 * points at, clicks or focuses one of its items leaves that item the same
 * node. Only nodes out of order move.
 * @param {Element} list
 * @param {HTMLElement[]} items
 */
export function patchList(list, items) {
  /** @type {Map<string, Element>} */
  const byKey = new Map();
  for (const child of [...list.children]) {
    const key = child instanceof HTMLElement ? child.dataset.key : undefined;
    if (key !== undefined && !byKey.has(key)) byKey.set(key, child);
    else child.remove();
  }
  const nodes = items.map((item) => {
    const old = byKey.get(item.dataset.key ?? '');
    if (!old) return item;
    byKey.delete(item.dataset.key ?? '');
    return /** @type {Element} */ (patch(old, item));
  });
  for (const gone of byKey.values()) gone.remove();
  nodes.forEach((node, i) => {
    if (list.children[i] !== node) list.insertBefore(node, list.children[i] ?? null);
  });
}
