import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Kind, MessageState, RoomStore } from '../js/roomstore.js';

const ROOM = 'general';
const at = (seq) => new Date(Date.UTC(2030, 0, 1, 12, 0, seq)).toISOString();

/** A message.posted fact. */
function posted(seq, id, { user = 'bob', text = `m${seq}`, clientId = `c-${user}-${seq}` } = {}) {
  return {
    room: ROOM,
    seq,
    id,
    kind: Kind.MESSAGE_POSTED,
    user,
    at: at(seq),
    data: { id, room: ROOM, seq, user, text, clientId, createdAt: at(seq), editedAt: null, deleted: false, reactions: {} },
  };
}

function fact(seq, id, kind, data, user = 'bob') {
  return { room: ROOM, seq, id, kind, user, at: at(seq), data };
}

/** A store joined fresh at headSeq, with no replay. */
function live(headSeq = 0) {
  const store = new RoomStore();
  store.startLive(headSeq, { resume: false });
  return store;
}

const texts = (store) => store.list().map((i) => i.text);

describe('RoomStore', () => {
  it('applies facts in seq order and tracks lastSeq', () => {
    const store = live(0);
    const r = store.applyEvent(posted(1, 101));
    assert.deepEqual(r.applied.map((a) => [a.event.seq, a.live]), [[1, true]]);
    assert.equal(r.gap, false);
    store.applyEvent(posted(2, 105));
    assert.equal(store.lastSeq, 2);
    assert.deepEqual(texts(store), ['m1', 'm2']);
  });

  it('ignores a fact seen before (same seq, same id)', () => {
    const store = live(0);
    store.applyEvent(posted(1, 101));
    const version = store.version;
    const r = store.applyEvent(posted(1, 101));
    assert.deepEqual(r.applied, []);
    assert.equal(store.version, version);
    assert.equal(store.list().length, 1);
  });

  it('dedupes messages by id across history pages and live facts', () => {
    const store = live(2);
    store.applyHistory([posted(1, 101).data, posted(2, 102).data], { hasMore: false });
    store.applyHistory([posted(2, 102).data]);
    store.applyEvent(posted(3, 103));
    store.applyHistory([posted(3, 103).data]);
    assert.deepEqual(store.list().map((i) => i.id), [101, 102, 103]);
    assert.equal(store.hasMore, false);
    assert.equal(store.oldestId, 101);
  });

  it('shows the membership lines of history pages among the messages, once each with the live ones', () => {
    const store = live(4);
    const created = fact(1, 100, Kind.ROOM_CREATED, { name: 'General', description: '', isPrivate: false }, 'alice');
    const joined = fact(3, 102, Kind.MEMBER_JOINED, {});
    store.applyEvent(fact(5, 104, Kind.MEMBER_LEFT, {}));
    store.applyHistory([posted(2, 101).data, posted(4, 103).data], {
      hasMore: false,
      events: [created, joined, fact(5, 104, Kind.MEMBER_LEFT, {}), fact(6, 105, Kind.MESSAGE_EDITED, { id: 101, text: 'x' }), { kind: Kind.MEMBER_JOINED }],
    });
    store.applyHistory([], { events: [joined] });
    store.applyEvent(joined); // a join's replay of the same fact: the same line
    const lines = store.list().map((i) => (i.kind === 'system' ? `${i.event}:${i.user}` : i.text));
    assert.deepEqual(lines, ['room.created:alice', 'm2', 'member.joined:bob', 'm4', 'member.left:bob']);
    assert.equal(store.lastSeq, 5);
    assert.equal(store.oldestId, 101);
  });

  it('keeps what it holds over a history page of the same message', () => {
    const store = live(0);
    store.applyEvent(posted(1, 101));
    store.applyEvent(fact(2, 102, Kind.MESSAGE_EDITED, { id: 101, text: 'fixed', editedAt: at(2) }));
    store.applyHistory([posted(1, 101).data]); // a stale page: unedited
    assert.equal(store.messageById(101).text, 'fixed');
  });

  it('detects a seq gap, holds later facts, and fills in when the gap is filled', () => {
    const store = live(0);
    store.applyEvent(posted(1, 101));
    const r = store.applyEvent(posted(3, 103));
    assert.equal(r.gap, true);
    assert.deepEqual(r.applied, []);
    assert.equal(store.lastSeq, 1);
    assert.equal(store.hasGap, true);
    assert.equal(store.applyEvent(posted(4, 104)).gap, true);

    const filled = store.applyEvent(posted(2, 102)); // from room:sync
    assert.deepEqual(filled.applied.map((a) => a.event.seq), [2, 3, 4]);
    assert.equal(store.lastSeq, 4);
    assert.equal(store.hasGap, false);
    // room:sync also returns 3 and 4 again: no duplicates.
    store.applyEvent(posted(3, 103));
    store.applyEvent(posted(4, 104));
    assert.deepEqual(texts(store), ['m1', 'm2', 'm3', 'm4']);
  });

  it('shows an optimistic message as SENDING, then merges its confirmation by clientId', () => {
    const store = live(0);
    store.applyEvent(posted(1, 101));
    store.addPending({ clientId: 'x1', user: 'ann', text: 'hi', createdAt: at(2) });
    store.addPending({ clientId: 'x2', user: 'ann', text: 'there', createdAt: at(3) });
    assert.deepEqual(store.list().map((i) => [i.text, i.state]), [
      ['m1', MessageState.SENT],
      ['hi', MessageState.SENDING],
      ['there', MessageState.SENDING],
    ]);
    const pendingKey = store.list()[1].key;

    store.applyEvent(posted(2, 102, { user: 'bob', text: 'yo' }));
    store.applyEvent(posted(3, 103, { user: 'ann', text: 'hi', clientId: 'x1' }));
    const list = store.list();
    assert.deepEqual(list.map((i) => [i.text, i.state, i.id]), [
      ['m1', MessageState.SENT, 101],
      ['yo', MessageState.SENT, 102],
      ['hi', MessageState.SENT, 103],
      ['there', MessageState.SENDING, null],
    ]);
    assert.equal(list[2].key, pendingKey, 'the confirmed message keeps its key');
    assert.equal(list[2].seq, 3);
  });

  it("does not merge someone else's message that reuses a clientId", () => {
    const store = live(0);
    store.addPending({ clientId: 'same', user: 'ann', text: 'mine', createdAt: at(1) });
    store.applyEvent(posted(1, 101, { user: 'eve', text: 'theirs', clientId: 'same' }));
    assert.deepEqual(store.list().map((i) => [i.user, i.state]), [
      ['eve', MessageState.SENT],
      ['ann', MessageState.SENDING],
    ]);
  });

  it('merges a confirmation that comes back with an old seq after a resend', () => {
    const store = live(10); // the original post was seq 7, before this join
    store.addPending({ clientId: 'x1', user: 'ann', text: 'hi', createdAt: at(7) });
    store.applyEvent(posted(7, 107, { user: 'ann', text: 'hi', clientId: 'x1' }));
    assert.deepEqual(store.list().map((i) => [i.state, i.id]), [[MessageState.SENT, 107]]);
    assert.equal(store.lastSeq, 10);
  });

  it('merges a confirmation at once even when it arrives after a gap', () => {
    const store = live(0);
    store.addPending({ clientId: 'x1', user: 'ann', text: 'hi', createdAt: at(2) });
    const r = store.applyEvent(posted(2, 102, { user: 'ann', text: 'hi', clientId: 'x1' }));
    assert.equal(r.gap, true);
    assert.equal(store.list()[0].state, MessageState.SENT);
    store.applyEvent(posted(1, 101));
    assert.deepEqual(store.list().map((i) => i.id), [101, 102]);
  });

  it('marks an unsent message failed, sending again, or drops it', () => {
    const store = live(0);
    store.addPending({ clientId: 'x1', user: 'ann', text: 'hi', createdAt: at(1) });
    const error = { code: 'RATE_LIMITED', message: 'slow down', retryAt: 9 };
    store.markFailed('x1', error);
    assert.equal(store.list()[0].state, MessageState.FAILED);
    assert.deepEqual(store.list()[0].error, error);
    store.markSending('x1');
    assert.equal(store.list()[0].state, MessageState.SENDING);
    assert.equal(store.list()[0].error, null);
    store.removePending('x1');
    assert.equal(store.list().length, 0);
  });

  it('restores a failed message as FAILED', () => {
    const store = live(0);
    store.addPending({ clientId: 'x1', user: 'ann', text: 'hi', createdAt: at(1), error: { code: 'TIMEOUT' } });
    assert.equal(store.list()[0].state, MessageState.FAILED);
  });

  it('applies edits and deletes, replacing the item', () => {
    const store = live(0);
    store.applyEvent(posted(1, 101));
    const before = store.messageById(101);
    store.applyEvent(fact(2, 102, Kind.MESSAGE_EDITED, { id: 101, text: 'edited', editedAt: at(2) }));
    const edited = store.messageById(101);
    assert.notEqual(edited, before);
    assert.equal(edited.text, 'edited');
    assert.equal(edited.editedAt, at(2));
    assert.equal(before.text, 'm1', 'items are replaced, not mutated');

    store.applyEvent(fact(3, 103, Kind.MESSAGE_DELETED, { id: 101 }));
    const deleted = store.messageById(101);
    assert.equal(deleted.deleted, true);
    assert.equal(deleted.text, '');
    assert.equal(store.lastSeq, 3);
    assert.equal(store.list().length, 1, 'edits and deletes add no rows');
  });

  it('ignores edits of messages it does not hold, but still advances seq', () => {
    const store = live(0);
    store.applyEvent(fact(1, 101, Kind.MESSAGE_EDITED, { id: 5, text: 'x', editedAt: at(1) }));
    assert.equal(store.lastSeq, 1);
    assert.equal(store.list().length, 0);
  });

  it('applies reactions once per user and removes them', () => {
    const store = live(0);
    store.applyEvent(posted(1, 101));
    store.applyEvent(fact(2, 102, Kind.REACTION_ADDED, { id: 101, emoji: '👍' }, 'ann'));
    store.applyEvent(fact(3, 103, Kind.REACTION_ADDED, { id: 101, emoji: '👍' }, 'bob'));
    store.applyEvent(fact(4, 104, Kind.REACTION_ADDED, { id: 101, emoji: '👍' }, 'ann'));
    assert.deepEqual(store.messageById(101).reactions, { '👍': ['ann', 'bob'] });
    store.applyEvent(fact(5, 105, Kind.REACTION_REMOVED, { id: 101, emoji: '👍' }, 'ann'));
    store.applyEvent(fact(6, 106, Kind.REACTION_REMOVED, { id: 101, emoji: '👍' }, 'bob'));
    assert.deepEqual(store.messageById(101).reactions, {});
  });

  it('shows joins and leaves as system items', () => {
    const store = live(0);
    store.applyEvent(fact(1, 101, Kind.MEMBER_JOINED, {}, 'cat'));
    store.applyEvent(posted(2, 102));
    store.applyEvent(fact(3, 103, Kind.MEMBER_LEFT, {}, 'cat'));
    assert.deepEqual(store.list().map((i) => [i.kind, i.event ?? i.text]), [
      ['system', Kind.MEMBER_JOINED],
      ['message', 'm2'],
      ['system', Kind.MEMBER_LEFT],
    ]);
  });

  it('replays a fresh join once and continues live after headSeq', () => {
    const store = new RoomStore();
    store.startLive(20, { resume: false });
    assert.equal(store.lastSeq, 20);
    // The replay of recent facts: not contiguous from 1, and not a gap.
    const replay = [posted(18, 118), posted(19, 119), fact(20, 120, Kind.MESSAGE_EDITED, { id: 118, text: 'e', editedAt: at(20) })];
    for (const ev of replay) {
      const r = store.applyEvent(ev);
      assert.equal(r.gap, false);
      assert.equal(r.applied[0].live, false);
    }
    assert.deepEqual(store.applyEvent(posted(19, 119)).applied, [], 'replayed facts apply once');
    const r = store.applyEvent(posted(21, 121));
    assert.equal(r.applied[0].live, true);
    assert.equal(store.lastSeq, 21);
    assert.deepEqual(texts(store), ['e', 'm19', 'm21']);
    assert.equal(store.applyEvent(posted(23, 123)).gap, true);
  });

  it('resumes after lastSeq on a join with after', () => {
    const store = live(0);
    store.applyEvent(posted(1, 101));
    store.applyEvent(posted(2, 102));
    store.startLive(5, { resume: true });
    assert.equal(store.lastSeq, 2);
    store.applyEvent(posted(3, 103));
    store.applyEvent(fact(4, 104, Kind.MESSAGE_DELETED, { id: 101 }));
    store.applyEvent(posted(5, 105));
    assert.equal(store.lastSeq, 5);
    assert.equal(store.messageById(101).deleted, true);
    assert.equal(store.applyEvent(posted(7, 107)).gap, true, 'a resumed stream still detects gaps');
  });

  it('holds facts that arrive before the join reply and applies them after it', () => {
    const store = new RoomStore();
    assert.deepEqual(store.applyEvent(posted(6, 106)).applied, []);
    const r = store.startLive(6, { resume: false });
    assert.deepEqual(r.applied.map((a) => a.event.seq), [6]);
    assert.equal(r.gap, false);
    assert.deepEqual(texts(store), ['m6']);
  });

  it('orders confirmed messages by id, whatever order they arrive in', () => {
    const store = live(0);
    store.applyHistory([posted(5, 205).data]);
    store.applyHistory([posted(1, 201).data, posted(2, 202).data]);
    assert.deepEqual(store.list().map((i) => i.id), [201, 202, 205]);
  });

  it('keeps a message’s attachments, with their urls, and drops them when it is deleted', () => {
    const store = live(0);
    const ev = posted(1, 101);
    ev.data.attachments = [
      { key: 'a/k1/cat.png', name: 'cat.png', contentType: 'image/png', size: 10, url: '/api/files/a/k1/cat.png' },
      { key: 'a/k2/notes.txt', name: 'notes.txt', contentType: 'text/plain', size: 3 },
      { name: 'no key' },
    ];
    store.applyEvent(ev);
    const [item] = store.list();
    assert.deepEqual(item.attachments, [
      { key: 'a/k1/cat.png', name: 'cat.png', contentType: 'image/png', size: 10, url: '/api/files/a/k1/cat.png' },
      { key: 'a/k2/notes.txt', name: 'notes.txt', contentType: 'text/plain', size: 3, url: '/api/files/a/k2/notes.txt' },
    ]);
    store.applyEvent(fact(2, 102, Kind.REACTION_ADDED, { id: 101, emoji: '👍' }));
    assert.equal(store.list()[0].attachments, item.attachments, 'unchanged attachments keep their identity');
    store.applyEvent(fact(3, 103, Kind.MESSAGE_DELETED, { id: 101 }));
    assert.deepEqual(store.list()[0].attachments, []);

    store.applyHistory([{ id: 90, seq: 0, user: 'bob', text: 'old', attachments: null, createdAt: at(0), reactions: {} }]);
    assert.deepEqual(store.messageById(90).attachments, [], 'a history message without attachments');
  });
});
