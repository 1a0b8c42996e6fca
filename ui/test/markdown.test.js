import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseInline, parseMarkdown, safeUrl } from '../js/markdown.js';

const text = (t) => ({ type: 'text', text: t });

describe('parseInline', () => {
  it('reads code, bold, italic and links', () => {
    assert.deepEqual(parseInline('a `x*y*` **b** *i* _j_ [t](https://e.com/p)'), [
      text('a '),
      { type: 'code', text: 'x*y*' },
      text(' '),
      { type: 'strong', children: [text('b')] },
      text(' '),
      { type: 'em', children: [text('i')] },
      text(' '),
      { type: 'em', children: [text('j')] },
      text(' '),
      { type: 'link', url: 'https://e.com/p', children: [text('t')] },
    ]);
  });

  it('nests emphasis and keeps bare links whole, punctuation after them as text', () => {
    assert.deepEqual(parseInline('**bold _it_** see https://x.io/a_b_c.'), [
      { type: 'strong', children: [text('bold '), { type: 'em', children: [text('it')] }] },
      text(' see '),
      { type: 'link', url: 'https://x.io/a_b_c', children: [text('https://x.io/a_b_c')] },
      text('.'),
    ]);
  });

  it('leaves markers inside words, lone ones and unsafe links as text', () => {
    for (const t of ['snake_case_name', '2*3*4', 'a * b * c', '** not bold **', '[x](javascript:alert(1))', 'javascript:alert(1)', '<b>x</b> &amp;']) {
      assert.deepEqual(parseInline(t), [text(t)], t);
    }
  });
});

describe('parseMarkdown', () => {
  it('splits paragraphs, quotes and code blocks, keeping line breaks', () => {
    assert.deepEqual(parseMarkdown('hi\nthere\n> q1\n>q2\nafter\n```\ncode *x*\n  indented\n```\nend'), [
      { type: 'p', children: [text('hi\nthere')] },
      { type: 'quote', children: [text('q1\nq2')] },
      { type: 'p', children: [text('after')] },
      { type: 'pre', text: 'code *x*\n  indented' },
      { type: 'p', children: [text('end')] },
    ]);
  });

  it('runs a code block never closed to the end', () => {
    assert.deepEqual(parseMarkdown('```\n**x**'), [{ type: 'pre', text: '**x**' }]);
  });

  it('makes plain text one paragraph of one text node', () => {
    assert.deepEqual(parseMarkdown('<img src=x onerror=alert(1)>'), [{ type: 'p', children: [text('<img src=x onerror=alert(1)>')] }]);
  });
});

describe('safeUrl', () => {
  it('allows http and https only', () => {
    assert.equal(safeUrl('https://a.b/'), true);
    assert.equal(safeUrl('http://a.b/'), true);
    for (const u of ['javascript:alert(1)', 'data:text/html,x', 'ftp://a.b/', 'nonsense']) assert.equal(safeUrl(u), false, u);
  });
});
