import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  buildTimeline,
  codePointLength,
  fileUrl,
  formatBytes,
  formatDay,
  isInlineImage,
  normalizeAttachments,
  initials,
  nameHue,
  roomIdFromName,
  splitLinks,
  typingText,
  validateMessage,
  validateText,
} from '../js/format.js';

describe('text limits', () => {
  it('counts code points, not UTF-16 units', () => {
    assert.equal(codePointLength('abc'), 3);
    assert.equal(codePointLength('😀😀'), 2);
    assert.equal('😀😀'.length, 4);
  });

  it('validates like the server', () => {
    assert.equal(validateText(''), 'EMPTY_MESSAGE');
    assert.equal(validateText(' \n\t'), 'EMPTY_MESSAGE');
    assert.equal(validateText('a'.repeat(2000)), null);
    assert.equal(validateText('a'.repeat(2001)), 'MESSAGE_TOO_LONG');
    assert.equal(validateText('😀'.repeat(2000)), null);
  });
});

describe('buildTimeline', () => {
  const t = (h, m) => new Date(2030, 0, 1, h, m).toISOString();
  const msg = (key, user, createdAt, kind = 'message') => ({ key, user, createdAt, kind });

  it('groups messages of one user less than 5 minutes apart', () => {
    const rows = buildTimeline([
      msg('a', 'ann', t(10, 0)),
      msg('b', 'ann', t(10, 4)),
      msg('c', 'ann', t(10, 8)), // 4 min after the previous one: still grouped
      msg('d', 'ann', t(10, 14)), // 6 min: new group
      msg('e', 'bob', t(10, 15)),
      msg('f', 'ann', t(10, 16)),
    ]);
    assert.deepEqual(
      rows.map((r) => (r.type === 'day' ? 'day' : `${r.key}${r.continued ? '+' : ''}`)),
      ['day', 'a', 'b+', 'c+', 'd', 'e', 'f'],
    );
  });

  it('breaks groups at system items and starts each day with a separator', () => {
    const rows = buildTimeline([
      msg('a', 'ann', t(23, 58)),
      msg('s', 'ann', t(23, 58), 'system'),
      msg('b', 'ann', t(23, 59)),
      msg('c', 'ann', new Date(2030, 0, 2, 0, 1).toISOString()),
    ]);
    assert.deepEqual(
      rows.map((r) => (r.type === 'day' ? 'day' : `${r.key}${r.continued ? '+' : ''}`)),
      ['day', 'a', 's', 'b', 'day', 'c'],
    );
  });
});

describe('typingText', () => {
  it('names up to three people', () => {
    assert.equal(typingText([]), '');
    assert.equal(typingText(['alice']), 'alice is typing…');
    assert.equal(typingText(['alice', 'bob']), 'alice and bob are typing…');
    assert.equal(typingText(['a', 'b', 'c']), 'a, b and c are typing…');
    assert.equal(typingText(['a', 'b', 'c', 'd']), '4 people are typing…');
  });
});

describe('splitLinks', () => {
  it('separates http(s) links from text', () => {
    assert.deepEqual(splitLinks('see https://example.com/a?b=1, then http://x.io.'), [
      { text: 'see ' },
      { url: 'https://example.com/a?b=1' },
      { text: ', then ' },
      { url: 'http://x.io' },
      { text: '.' },
    ]);
  });

  it('keeps balanced parentheses and ignores other schemes', () => {
    assert.deepEqual(splitLinks('(https://en.wikipedia.org/wiki/Foo_(bar))'), [
      { text: '(' },
      { url: 'https://en.wikipedia.org/wiki/Foo_(bar)' },
      { text: ')' },
    ]);
    assert.deepEqual(splitLinks('javascript:alert(1) <b>'), [{ text: 'javascript:alert(1) <b>' }]);
  });
});

describe('roomIdFromName', () => {
  it('derives the id as the server does', () => {
    assert.equal(roomIdFromName('Rust & Go!!'), 'rust-go');
    assert.equal(roomIdFromName('  --Hello World--  '), 'hello-world');
    assert.equal(roomIdFromName('Café'), 'caf');
    assert.equal(roomIdFromName('x'.repeat(70)).length, 64);
  });
});

describe('formatDay', () => {
  const now = new Date(2030, 5, 15, 12, 0);
  it('says Today and Yesterday', () => {
    assert.equal(formatDay(new Date(2030, 5, 15, 0, 1), now), 'Today');
    assert.equal(formatDay(new Date(2030, 5, 14, 23, 59), now), 'Yesterday');
  });

  it('adds the year only for other years', () => {
    assert.ok(!formatDay(new Date(2030, 5, 1), now, 'en-GB').includes('2030'));
    assert.ok(formatDay(new Date(2029, 5, 1), now, 'en-GB').includes('2029'));
  });
});

describe('avatars', () => {
  it('picks initials and a stable hue', () => {
    assert.equal(initials('alice'), 'AL');
    assert.equal(initials('x'), 'X');
    assert.equal(initials('  '), '?');
    assert.equal(initials('élodie'), 'ÉL');
    assert.equal(initials('Alice Smith'), 'AS');
    assert.equal(initials('bob_jones'), 'BJ');
    assert.equal(nameHue('alice'), nameHue('alice'));
    assert.ok(nameHue('alice') >= 0 && nameHue('alice') < 360);
  });
});

describe('buildTimeline keys', () => {
  it('stays unique when a day recurs (an old unsent message after newer ones)', () => {
    const rows = buildTimeline([
      { key: 'm:1', user: 'a', kind: 'message', createdAt: new Date(2030, 0, 2, 9).toISOString() },
      { key: 'c:a:x', user: 'a', kind: 'message', createdAt: new Date(2030, 0, 1, 9).toISOString() },
      { key: 'c:a:y', user: 'a', kind: 'message', createdAt: new Date(2030, 0, 2, 9, 1).toISOString() },
    ]);
    const keys = rows.map((r) => r.key);
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(rows.filter((r) => r.type === 'day').length, 3);
  });
});

describe('attachments', () => {
  it('lets a message with attachments have no text', () => {
    assert.equal(validateMessage('  ', 1), null);
    assert.equal(validateMessage('', 0), 'EMPTY_MESSAGE');
    assert.equal(validateMessage('x'.repeat(2001), 1), 'MESSAGE_TOO_LONG');
    assert.equal(validateMessage('hi', 0), null);
  });

  it('formats sizes in powers of 1024', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1024), '1 KB');
    assert.equal(formatBytes(1536), '1.5 KB');
    assert.equal(formatBytes(10 * 1024 * 1024), '10 MB');
    assert.equal(formatBytes(10 * 1024 * 1024 + 1), '10 MB');
    assert.equal(formatBytes(123.4 * 1024 * 1024), '123 MB');
    assert.equal(formatBytes(-1), '');
    assert.equal(formatBytes(NaN), '');
  });

  it('shows the four image types inline, nothing else', () => {
    for (const t of ['image/png', 'image/jpeg', 'image/gif', 'image/webp']) assert.equal(isInlineImage(t), true, t);
    for (const t of ['image/svg+xml', 'application/pdf', 'text/plain', '', 'image/PNG']) assert.equal(isInlineImage(t), false, t);
  });

  it('builds file paths with each key segment escaped', () => {
    assert.equal(fileUrl('a/abc/cat.png'), '/api/files/a/abc/cat.png');
    assert.equal(fileUrl('a/abc/a b#?.png'), '/api/files/a/abc/a%20b%23%3F.png');
  });

  it('normalizes attachments, keeping only the server’s own urls', () => {
    assert.deepEqual(normalizeAttachments(null), []);
    assert.deepEqual(
      normalizeAttachments([
        { key: 'a/k/x.pdf', name: 'x.pdf', contentType: 'application/pdf', size: 5, url: '/api/files/a/k/x.pdf' },
        { key: 'a/k/y.png', name: 'y.png', contentType: 'image/png', size: 5, url: 'javascript:alert(1)' },
        { key: 'a/k/z.png', contentType: 'image/png', size: 5, url: '//evil.test/z.png' },
        { key: '', name: 'nothing' },
        'junk',
      ]),
      [
        { key: 'a/k/x.pdf', name: 'x.pdf', contentType: 'application/pdf', size: 5, url: '/api/files/a/k/x.pdf' },
        { key: 'a/k/y.png', name: 'y.png', contentType: 'image/png', size: 5, url: '/api/files/a/k/y.png' },
        { key: 'a/k/z.png', name: 'z.png', contentType: 'image/png', size: 5, url: '/api/files/a/k/z.png' },
      ],
    );
  });
});
