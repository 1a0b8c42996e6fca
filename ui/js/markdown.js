// @ts-check
// The small markdown subset messages may use, parsed into a plain tree that a
// view turns into DOM nodes (never HTML): `code`, ``` code blocks ```,
// **bold**, *italic* or _italic_, [text](https://…) and bare http(s) links,
// and > quotes. Anything else is text, shown as typed.

import { splitLinks } from './format.js';

/**
 * @typedef {{type: 'text', text: string}
 *   | {type: 'code', text: string}
 *   | {type: 'strong' | 'em', children: Inline[]}
 *   | {type: 'link', url: string, children: Inline[]}} Inline
 * @typedef {{type: 'p', children: Inline[]}
 *   | {type: 'quote', children: Inline[]}
 *   | {type: 'pre', text: string}} Block
 */

const FENCE = /^\s*```/;
const QUOTE = /^>\s?/;

/**
 * The blocks of a message: paragraphs (their line breaks kept in the text),
 * quotes (consecutive lines starting with `>`) and code blocks (between
 * lines starting with ```; one never closed runs to the end).
 * @param {string} text
 * @returns {Block[]}
 */
export function parseMarkdown(text) {
  /** @type {Block[]} */
  const blocks = [];
  const lines = text.split('\n');
  /** @type {string[]} */
  let para = [];
  const endPara = () => {
    if (para.length) blocks.push({ type: 'p', children: parseInline(para.join('\n')) });
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (FENCE.test(line)) {
      endPara();
      const code = [];
      for (i += 1; i < lines.length && !FENCE.test(lines[i]); i++) code.push(lines[i]);
      blocks.push({ type: 'pre', text: code.join('\n') });
    } else if (QUOTE.test(line)) {
      endPara();
      const quoted = [line.replace(QUOTE, '')];
      while (i + 1 < lines.length && QUOTE.test(lines[i + 1])) quoted.push(lines[++i].replace(QUOTE, ''));
      blocks.push({ type: 'quote', children: parseInline(quoted.join('\n')) });
    } else {
      para.push(line);
    }
  }
  endPara();
  return blocks;
}

// One alternative per inline form; the earliest match wins. Emphasis needs
// its markers against non-space text and not inside a word (snake_case
// and 2*3*4 stay text).
const INLINE = new RegExp(
  [
    /`([^`\n]+)`/.source,
    /\[([^\]\n]+)\]\((https?:\/\/[^\s()]+)\)/.source,
    /\bhttps?:\/\/[^\s<>"']+/.source,
    /\*\*(?=\S)([^\n]*?\S)\*\*/.source,
    /(?<![\w*])\*(?=[^\s*])([^\n*]*?[^\s*])\*(?![\w*])/.source,
    /(?<![\w_])_(?=[^\s_])([^\n_]*?[^\s_])_(?![\w_])/.source,
  ].join('|'),
  'gi',
);

/**
 * The inline nodes of one block of text.
 * @param {string} text
 * @returns {Inline[]}
 */
export function parseInline(text) {
  /** @type {Inline[]} */
  const out = [];
  const pushText = (/** @type {string} */ t) => {
    if (!t) return;
    const last = out.at(-1);
    if (last?.type === 'text') last.text += t;
    else out.push({ type: 'text', text: t });
  };
  let at = 0;
  INLINE.lastIndex = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index < at) continue;
    const [whole, code, label, href, bold, star, under] = m;
    let consumed = whole;
    /** @type {Inline | null} */
    let node = null;
    if (code !== undefined) node = { type: 'code', text: code };
    else if (label !== undefined) node = safeUrl(href) ? { type: 'link', url: href, children: parseInline(label) } : null;
    else if (bold !== undefined) node = { type: 'strong', children: parseInline(bold) };
    else if (star !== undefined) node = { type: 'em', children: parseInline(star) };
    else if (under !== undefined) node = { type: 'em', children: parseInline(under) };
    else {
      // A bare link: sentence punctuation after it stays text.
      const [segment] = splitLinks(whole);
      if (segment && 'url' in segment && safeUrl(segment.url)) {
        consumed = segment.url;
        node = { type: 'link', url: segment.url, children: [{ type: 'text', text: segment.url }] };
      }
    }
    if (!node) continue;
    pushText(text.slice(at, m.index));
    out.push(node);
    at = m.index + consumed.length;
  }
  pushText(text.slice(at));
  return out;
}

/**
 * Whether a link may be followed: http and https only.
 * @param {string} url
 */
export function safeUrl(url) {
  try {
    const { protocol } = new URL(url);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}
