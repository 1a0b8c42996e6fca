// @ts-check
// Pure helpers for presenting chat data: text limits, the timeline with day
// separators and grouping, typing sentences, links, times, room ids.

export const MAX_MESSAGE_LENGTH = 2000;
export const GROUP_WINDOW_MS = 5 * 60 * 1000;

/** Length in Unicode code points, as the server counts it. */
export function codePointLength(text) {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

/** The server's code a text would be rejected with, or null if it is sendable. */
export function validateText(text, max = MAX_MESSAGE_LENGTH) {
  if (text.trim() === '') return 'EMPTY_MESSAGE';
  if (codePointLength(text) > max) return 'MESSAGE_TOO_LONG';
  return null;
}

/**
 * Like validateText for a message with attachments: with at least one, a
 * blank text is fine (it is sent as no text at all, which the server
 * accepts for a message with attachments).
 */
export function validateMessage(text, attachments = 0, max = MAX_MESSAGE_LENGTH) {
  if (attachments > 0 && text.trim() === '') return null;
  return validateText(text, max);
}

/**
 * Turns store items (oldest first) into rows for the message view:
 * {type: 'day', key, date} before the first item of each local day (keyed by
 * that item, so keys stay unique even if a day recurs), and
 * {type: 'item', key, item, continued} where continued means the item
 * belongs to the group above it: a message by the same user, less than
 * GROUP_WINDOW_MS after the previous one, on the same day.
 */
export function buildTimeline(items, windowMs = GROUP_WINDOW_MS) {
  const rows = [];
  let previous = null;
  let day = null;
  for (const item of items) {
    const at = new Date(item.createdAt);
    const itemDay = dayKey(at);
    if (itemDay !== day) {
      rows.push({ type: 'day', key: `d:${item.key}`, date: at });
      day = itemDay;
      previous = null;
    }
    const continued =
      previous !== null &&
      item.kind === 'message' &&
      previous.kind === 'message' &&
      previous.user === item.user &&
      at.getTime() - new Date(previous.createdAt).getTime() < windowMs;
    rows.push({ type: 'item', key: item.key, item, continued });
    previous = item;
  }
  return rows;
}

function dayKey(date) {
  return `${date.getFullYear()}-${date.getMonth() + 1}-${date.getDate()}`;
}

/** "alice is typing…", "alice and bob are typing…", "alice, bob and carol are typing…", "4 people are typing…". */
export function typingText(names) {
  switch (names.length) {
    case 0:
      return '';
    case 1:
      return `${names[0]} is typing…`;
    case 2:
      return `${names[0]} and ${names[1]} are typing…`;
    case 3:
      return `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
    default:
      return `${names.length} people are typing…`;
  }
}

const LINK = /\bhttps?:\/\/[^\s<>"']+/gi;

/**
 * Splits text into [{text}] and [{url}] segments, in order, so a view can
 * render links as anchors and everything else as plain text.
 */
export function splitLinks(text) {
  const segments = [];
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    const url = trimLinkEnd(match[0]);
    if (match.index > last) segments.push({ text: text.slice(last, match.index) });
    segments.push({ url });
    last = match.index + url.length;
  }
  if (last < text.length) segments.push({ text: text.slice(last) });
  return segments;
}

/** Drops sentence punctuation after a link; a ')' stays when it closes a '(' of the link. */
function trimLinkEnd(url) {
  for (;;) {
    const end = url.at(-1);
    const unbalanced = end === ')' && url.split(')').length > url.split('(').length;
    if (!(/[.,;:!?\]}'"]/.test(end) || unbalanced)) return url;
    url = url.slice(0, -1);
  }
}

/** The room id the server derives from a name (PROTOCOL.md, POST /api/rooms). */
export function roomIdFromName(name) {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64);
}

export function formatTime(date, locale) {
  return new Date(date).toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' });
}

/** "Today", "Yesterday", or a date ("Monday, 3 March", with the year if not this year). */
export function formatDay(date, now = new Date(), locale) {
  const d = new Date(date);
  const startOf = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const days = Math.round((startOf(now) - startOf(d)) / 86400000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  /** @type {Intl.DateTimeFormatOptions} */
  const options = { weekday: 'long', day: 'numeric', month: 'long' };
  if (d.getFullYear() !== now.getFullYear()) options.year = 'numeric';
  return d.toLocaleDateString(locale, options);
}

/** A hue (0..359) picked from a name, so each user keeps one avatar colour. */
export function nameHue(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

/**
 * Two letters for an avatar: the first of the first two words, or the first
 * two of a one-word name ('?' for a blank one).
 * @param {string} name
 */
export function initials(name) {
  const words = name.trim().split(/[\s._-]+/).filter(Boolean);
  if (words.length === 0) return '?';
  const letters = words.length > 1 ? [first(words[0]), first(words[1])] : [...words[0]].slice(0, 2);
  return letters.join('').toUpperCase();
}

/** @param {string} word */
function first(word) {
  return String.fromCodePoint(word.codePointAt(0) ?? 63);
}

/**
 * Compares names the way people read them: case aside, and numbers by value
 * ("room 2" before "room 10").
 */
export const naturalCompare = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' }).compare;

/** A size in bytes for people: "512 B", "1.5 KB", "10 MB" (powers of 1024). */
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return '';
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = value < 10 ? Math.round(value * 10) / 10 : Math.round(value);
  return `${shown} ${units[unit]}`;
}

const INLINE_IMAGES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** Whether an attachment of this content type is shown as an image. */
export function isInlineImage(contentType) {
  return INLINE_IMAGES.has(contentType);
}

/** The path the gateway serves a stored file at (PROTOCOL.md, GET /api/files/{key}). */
export function fileUrl(key) {
  return `/api/files/${String(key).split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * A message's attachments as the views use them: {key, name, contentType,
 * size, url}, dropping entries without a key. The url is the server's, or
 * derived from the key when a message carries none (an unsent one).
 */
export function normalizeAttachments(list) {
  if (!Array.isArray(list)) return [];
  return list
    .filter((a) => a && typeof a.key === 'string' && a.key !== '')
    .map((a) => ({
      key: a.key,
      name: typeof a.name === 'string' && a.name ? a.name : a.key.split('/').at(-1),
      contentType: typeof a.contentType === 'string' ? a.contentType : '',
      size: Number.isFinite(a.size) ? a.size : 0,
      url: typeof a.url === 'string' && a.url.startsWith('/api/files/') ? a.url : fileUrl(a.key),
    }));
}
