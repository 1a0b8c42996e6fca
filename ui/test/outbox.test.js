import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Outbox } from '../js/outbox.js';
import { MemoryStorage } from './fakes.js';

const at = '2030-01-01T00:00:00.000Z';
const msg = (clientId, room = 'general', text = `text ${clientId}`) => ({ clientId, room, text, createdAt: at });

describe('Outbox', () => {
  it('keeps entries in the order written', () => {
    const box = new Outbox();
    box.enqueue(msg('a'));
    box.enqueue(msg('b', 'random'));
    box.enqueue(msg('c'));
    assert.deepEqual(box.entries().map((e) => e.clientId), ['a', 'b', 'c']);
    assert.deepEqual(box.entries('general').map((e) => e.clientId), ['a', 'c']);
  });

  it('refuses a clientId twice', () => {
    const box = new Outbox();
    box.enqueue(msg('a'));
    assert.throws(() => box.enqueue(msg('a')));
  });

  it('flushes pending entries in order, each once', () => {
    const box = new Outbox();
    ['a', 'b', 'c'].forEach((id) => box.enqueue(msg(id)));
    const sent = [];
    box.flush((e) => sent.push(e.clientId));
    box.flush((e) => sent.push(e.clientId));
    assert.deepEqual(sent, ['a', 'b', 'c']);
    box.enqueue(msg('d'));
    box.flush((e) => sent.push(e.clientId));
    assert.deepEqual(sent, ['a', 'b', 'c', 'd'], 'a later flush sends only what is new');
  });

  it('flushes one room only when asked', () => {
    const box = new Outbox();
    box.enqueue(msg('a', 'x'));
    box.enqueue(msg('b', 'y'));
    const sent = box.flush(() => {}, 'y');
    assert.deepEqual(sent.map((e) => e.clientId), ['b']);
    assert.equal(box.isInFlight('a'), false);
    assert.equal(box.isInFlight('b'), true);
  });

  it('sends everything unconfirmed again after the connection drops', () => {
    const box = new Outbox();
    ['a', 'b'].forEach((id) => box.enqueue(msg(id)));
    box.flush(() => {});
    box.confirm('a');
    box.resetInFlight();
    const sent = [];
    box.flush((e) => sent.push(e.clientId));
    assert.deepEqual(sent, ['b']);
  });

  it('a confirmed message leaves the outbox and its storage', () => {
    const storage = new MemoryStorage();
    const box = new Outbox({ storage, key: 'k' });
    box.enqueue(msg('a'));
    box.enqueue(msg('b'));
    assert.equal(box.confirm('a'), true);
    assert.equal(box.confirm('a'), false);
    assert.equal(box.get('a'), null);
    assert.deepEqual(new Outbox({ storage, key: 'k' }).entries().map((e) => e.clientId), ['b']);
    box.confirm('b');
    assert.equal(storage.getItem('k'), null);
  });

  it('persists through the injected storage, in order, failures included', () => {
    const storage = new MemoryStorage();
    const box = new Outbox({ storage, key: 'chillin.outbox.ann' });
    box.enqueue(msg('a', 'general', 'first'));
    box.enqueue(msg('b', 'general', 'second'));
    box.fail('b', { code: 'RATE_LIMITED', message: 'slow down', retryAt: 5 });

    const reloaded = new Outbox({ storage, key: 'chillin.outbox.ann' });
    assert.deepEqual(reloaded.entries(), [
      { clientId: 'a', room: 'general', text: 'first', attachments: [], createdAt: at, error: null },
      {
        clientId: 'b',
        room: 'general',
        text: 'second',
        attachments: [],
        createdAt: at,
        error: { code: 'RATE_LIMITED', message: 'slow down', retryAt: 5 },
      },
    ]);
    assert.equal(new Outbox({ storage, key: 'chillin.outbox.bob' }).entries().length, 0, 'one key per user');
  });

  it('keeps the attachments of a message through a reload, and reads entries saved without any', () => {
    const storage = new MemoryStorage();
    const cat = { key: 'a/abc/cat.png', name: 'cat.png', contentType: 'image/png', size: 2048 };
    const box = new Outbox({ storage, key: 'k' });
    box.enqueue({ ...msg('a', 'general', 'look'), attachments: [cat] });
    assert.deepEqual(new Outbox({ storage, key: 'k' }).get('a').attachments, [cat]);

    storage.setItem(
      'k',
      JSON.stringify([
        { clientId: 'old', room: 'general', text: 'from before attachments', createdAt: at, error: null },
        { clientId: 'bad', room: 'general', text: 'x', attachments: [{ key: 7 }], createdAt: at, error: null },
        { clientId: 'bad2', room: 'general', text: 'x', attachments: 'cat.png', createdAt: at, error: null },
      ]),
    );
    const reloaded = new Outbox({ storage, key: 'k' });
    assert.deepEqual(reloaded.entries().map((e) => [e.clientId, e.attachments]), [['old', []]], 'malformed attachments drop the entry');
  });

  it('nothing is in flight after a reload: the first flush sends every pending entry', () => {
    const storage = new MemoryStorage();
    const box = new Outbox({ storage });
    box.enqueue(msg('a'));
    box.flush(() => {});
    const sent = new Outbox({ storage }).flush(() => {});
    assert.deepEqual(sent.map((e) => e.clientId), ['a']);
  });

  it('skips failed entries until retried, keeping their place and clientId', () => {
    const box = new Outbox();
    ['a', 'b', 'c'].forEach((id) => box.enqueue(msg(id)));
    box.flush(() => {});
    box.fail('a', { code: 'TIMEOUT', message: 'late' });
    box.resetInFlight();
    let sent = box.flush(() => {});
    assert.deepEqual(sent.map((e) => e.clientId), ['b', 'c']);
    assert.equal(box.retry('a').error, null);
    sent = box.flush(() => {});
    assert.deepEqual(sent.map((e) => e.clientId), ['a']);
    assert.deepEqual(box.entries().map((e) => e.clientId), ['a', 'b', 'c']);
  });

  it('discards and clears', () => {
    const storage = new MemoryStorage();
    const box = new Outbox({ storage, key: 'k' });
    box.enqueue(msg('a'));
    box.enqueue(msg('b'));
    assert.equal(box.discard('a'), true);
    assert.deepEqual(box.entries().map((e) => e.clientId), ['b']);
    box.clear();
    assert.equal(box.entries().length, 0);
    assert.equal(storage.getItem('k'), null);
  });

  it('hands out copies, so callers cannot change its state', () => {
    const box = new Outbox();
    box.enqueue(msg('a')).text = 'changed';
    box.get('a').error = { code: 'X' };
    assert.equal(box.get('a').text, 'text a');
    assert.equal(box.get('a').error, null);
  });

  it('survives corrupt or unavailable storage', () => {
    const corrupt = new MemoryStorage();
    corrupt.setItem('k', '{not json');
    assert.deepEqual(new Outbox({ storage: corrupt, key: 'k' }).entries(), []);

    const mixed = new MemoryStorage();
    mixed.setItem('k', JSON.stringify([msg('a'), { clientId: 1 }, null]));
    assert.deepEqual(new Outbox({ storage: mixed, key: 'k' }).entries().map((e) => e.clientId), ['a']);

    const broken = {
      getItem() {
        throw new Error('denied');
      },
      setItem() {
        throw new Error('quota');
      },
      removeItem() {},
    };
    const box = new Outbox({ storage: broken });
    box.enqueue(msg('a'));
    assert.deepEqual(box.entries().map((e) => e.clientId), ['a']);
  });
});
