import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { countAfter, firstUnread, mentions, ReadState, unreadAbove } from '../js/readstate.js';
import { newRoom } from '../js/room.js';
import { Kind } from '../js/roomstore.js';
import { MemoryStorage } from './fakes.js';

/** A message.posted fact of room r. */
function posted(seq, user, text = `m${seq}`) {
  const id = 100 + seq;
  return { room: 'r', seq, id, kind: Kind.MESSAGE_POSTED, user, at: '2030-01-01T00:00:00Z', data: { id, room: 'r', seq, user, text, createdAt: '2030-01-01T00:00:00Z', reactions: {} } };
}

/** Room r, joined live from seq 0, holding the given messages ([user, text]) from seq 1 on. */
function roomWith(messages, { hasMore = false } = {}) {
  const room = newRoom('r');
  room.store.startLive(0, { resume: true });
  room.store.applyHistory([], { hasMore });
  messages.forEach(([user, text], i) => room.store.applyEvent(posted(i + 1, user, text)));
  return room;
}

describe('mentions', () => {
  it('finds @username as a word, case aside, not inside a longer name or address', () => {
    assert.equal(mentions('hi @Ann!', 'ann'), true);
    assert.equal(mentions('@ann', 'ann'), true);
    assert.equal(mentions('@annie', 'ann'), false);
    assert.equal(mentions('bob@ann', 'ann'), false);
    assert.equal(mentions('@ann-marie', 'ann'), false);
    assert.equal(mentions('@annie then @ann', 'ann'), true, 'a later mention counts');
    assert.equal(mentions(undefined, 'ann'), false);
  });
});

describe('countAfter', () => {
  it('counts the messages by others after a read position, mentions apart', () => {
    const room = roomWith([['bob', 'a'], ['ann', 'mine'], ['bob', '@ann b'], ['bob', 'c']]);
    assert.deepEqual(countAfter(room, 1, 'ann'), { unread: 2, mentions: 1 });
    assert.deepEqual(countAfter(room, 3, 'ann'), { unread: 1, mentions: 0 });
    assert.deepEqual(countAfter(room, 4, 'ann'), { unread: 0, mentions: 0 });
    assert.deepEqual(countAfter(room, 9, 'ann'), { unread: 0, mentions: 0 });
  });

  it('gives up when older messages may be unread too', () => {
    const room = newRoom('r');
    room.store.startLive(5, { resume: false });
    for (const seq of [6, 7, 8]) room.store.applyEvent(posted(seq, 'bob'));
    assert.equal(room.store.hasMore, true);
    assert.equal(countAfter(room, 2, 'ann'), null, 'seq 3 to 5 are not held');
    assert.deepEqual(countAfter(room, 5, 'ann'), { unread: 3, mentions: 0 }, 'held from the read position on');
  });
});

describe('firstUnread and unreadAbove', () => {
  it('put the divider above the first message by someone else after the divider', () => {
    const room = roomWith([['bob'], ['bob'], ['ann'], ['bob']]);
    assert.equal(firstUnread(room, 'ann'), null, 'no divider');
    room.divider = 2;
    assert.equal(firstUnread(room, 'ann'), 4, 'the user’s own message is skipped');
    room.divider = 4;
    assert.equal(firstUnread(room, 'ann'), null);
    assert.equal(unreadAbove(room, 'ann'), false);
  });

  it('say when the first unread message is older than those held', () => {
    const room = newRoom('r');
    room.store.startLive(5, { resume: false });
    room.store.applyEvent(posted(6, 'ann'));
    room.divider = 2;
    assert.equal(firstUnread(room, 'ann'), null);
    assert.equal(unreadAbove(room, 'ann'), true);
    room.store.applyHistory([], { hasMore: false });
    assert.equal(unreadAbove(room, 'ann'), false, 'nothing older to load');
  });

  it('put no divider above a held unread message while older unread ones are not held', () => {
    const room = newRoom('r');
    room.store.startLive(10, { resume: false });
    for (const seq of [11, 12, 13]) room.store.applyEvent(posted(seq, 'bob'));
    room.divider = 4;
    assert.equal(firstUnread(room, 'ann'), null, 'seq 5 to 10 may be unread messages');
    assert.equal(unreadAbove(room, 'ann'), true);
    room.divider = 10;
    assert.equal(firstUnread(room, 'ann'), 11, 'everything after the read position is held');
    assert.equal(unreadAbove(room, 'ann'), false);
  });
});

describe('ReadState', () => {
  function setup(rooms) {
    const sent = [];
    const events = [];
    const storage = new MemoryStorage();
    const byId = new Map(rooms.map((r) => [r.id, r]));
    const read = new ReadState({
      me: 'ann',
      storage,
      room: (id) => byId.get(id),
      send: (frame) => (sent.push(frame), true),
      emit: (name) => events.push(name),
    });
    return { read, sent, events, storage };
  }

  it('reads the room on screen while the user looks, and sets the divider where reading stopped', () => {
    const room = roomWith([['bob'], ['bob', '@ann'], ['bob']]);
    room.joined = true;
    {
      const { read, sent, storage } = setup([room]);
      read.fromList(room, { lastReadSeq: 1, unreadCount: 2, mentionCount: 1 });
      read.setAttentive(false);
      read.setActive('r', { remember: true });
      assert.equal(storage.getItem('chillin.active.ann'), 'r');
      assert.deepEqual([room.unread, room.mentions, sent.length], [2, 1, 0], 'not read while the user looks away');
      read.setAttentive(true);
      assert.deepEqual([room.unread, room.mentions, room.lastRead, room.divider], [0, 0, 3, 1]);
      assert.deepEqual(sent, [{ type: 'room:read', data: { room: 'r', seq: 3 } }]);
      assert.equal(read.firstUnread('r'), 2);
      read.setActive(null);
      assert.equal(room.divider, null, 'the divider goes with the room');
      assert.equal(storage.getItem('chillin.active.ann'), 'r', 'remembered only when asked');
    }
  });

  it('counts live messages by others in rooms not read, and follows room:read', () => {
    const room = roomWith([]);
    const { read, events } = setup([room]);
    assert.equal(read.arrived(room, posted(1, 'bob', 'hey @ann')), true);
    assert.equal(read.arrived(room, posted(2, 'ann')), false, 'the user’s own');
    assert.deepEqual([room.unread, room.mentions], [1, 1]);
    room.lastRead = 5;
    assert.equal(read.arrived(room, posted(5, 'bob')), false, 'read already');
    room.lastRead = 0;
    for (const ev of [posted(1, 'bob', 'hey @ann'), posted(2, 'bob')]) room.store.applyEvent(ev);
    read.onRoomRead({ room: 'r', seq: 1 });
    assert.deepEqual([room.unread, room.mentions, room.lastRead], [1, 0, 1]);
    read.onRoomRead({ room: 'r', seq: 0 });
    read.onRoomRead({ room: 'r', seq: '2' });
    assert.equal(room.lastRead, 1, 'never backwards, only whole numbers');
    assert.deepEqual(events, ['rooms']);
  });
});
