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

/** A round avatar with a user's initials in the user's colour. */
export function avatar(user, displayName = user, className = '') {
  const el = h('span', { class: `avatar ${className}`.trim(), 'aria-hidden': 'true', text: initials(displayName) });
  el.style.setProperty('--hue', String(nameHue(user)));
  return el;
}
