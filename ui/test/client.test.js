import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';

import { ChatClient } from '../js/client.js';
import { Connection, State } from '../js/connection.js';
import { Outbox } from '../js/outbox.js';
import { Kind, MessageState } from '../js/roomstore.js';
import { FakeClock, fakeWebSocketClass, MemoryStorage } from './fakes.js';

const settle = () => new Promise((resolve) => setImmediate(resolve));

// The rooms the fake server holds the user as a member of (joined through
// replyJoin), in the order joined, as GET /api/me/rooms lists them.
let serverRooms = [];

function fakeApi() {
  return {
    calls: [],
    async myRooms() {
      this.calls.push(['myRooms']);
      return serverRooms.map((r) => ({ lastReadSeq: 0, unreadCount: 0, mentionCount: 0, ...r }));
    },
    async messages(room, options) {
      this.calls.push(['messages', room, options]);
      return { messages: [], hasMore: false };
    },
    async members(room, options) {
      this.calls.push(['members', room, options]);
      return { members: [], next: null };
    },
  };
}

/** A members page as Api.members resolves it. */
function page(members, next = null) {
  return { members, next };
}

function posted(room, seq, id, user, text, clientId) {
  return {
    type: 'event',
    data: {
      room,
      seq,
      id,
      kind: Kind.MESSAGE_POSTED,
      user,
      at: '2030-01-01T00:00:00Z',
      data: { id, room, seq, user, text, clientId, createdAt: '2030-01-01T00:00:00Z', reactions: {} },
    },
  };
}

describe('ChatClient', () => {
  let clock;
  let WS;
  let storage;
  let conn;
  let client;
  let ids;

  function start(api = fakeApi()) {
    conn = new Connection({ url: 'ws://t/ws', WebSocket: WS, timers: clock.timers, now: () => clock.now, random: () => 0 });
    client = new ChatClient({
      connection: conn,
      api,
      outbox: new Outbox({ storage, key: 'chillin.outbox.ann' }),
      me: 'ann',
      storage,
      timers: clock.timers,
      now: () => clock.now,
      newId: () => `id-${++ids}`,
    });
    client.start();
    return client;
  }

  /** Stops the client and gives the next one a server of its own. */
  function restart() {
    client.stop();
    WS = fakeWebSocketClass();
  }

  /** Answers the last room:join on the current socket. */
  async function replyJoin(headSeq, extra = {}) {
    await settle(); // a reconnect joins once the room list came
    const join = WS.last.sentOf('room:join').at(-1);
    if (!serverRooms.some((r) => r.id === join.data.room)) serverRooms.push({ id: join.data.room });
    WS.last.receive({ type: 'reply', ref: join.ref, data: { ok: true, room: { id: join.data.room }, headSeq, members: 2, online: 1, ...extra } });
    await settle();
    return join;
  }

  async function openGeneral(headSeq = 0) {
    const opening = client.openRoom('general');
    await replyJoin(headSeq);
    return opening;
  }

  const states = (room = 'general') => client.room(room).store.list().map((i) => [i.text, i.state]);

  beforeEach(() => {
    clock = new FakeClock();
    WS = fakeWebSocketClass();
    storage = new MemoryStorage();
    serverRooms = [];
    ids = 0;
    start();
    WS.last.open();
  });

  it('shows a sent message at once as SENDING and as SENT on its message.posted', async () => {
    await openGeneral();
    const clientId = client.send('general', 'hello');
    assert.deepEqual(states(), [['hello', MessageState.SENDING]]);
    const [frame] = WS.last.sentOf('message:send');
    assert.deepEqual(frame.data, { room: 'general', clientId, text: 'hello' });

    WS.last.receive(posted('general', 1, 500, 'ann', 'hello', clientId));
    assert.deepEqual(states(), [['hello', MessageState.SENT]]);
    assert.equal(client.room('general').store.list()[0].id, 500);
    assert.equal(storage.getItem('chillin.outbox.ann'), null, 'the outbox is empty again');
    clock.advance(60000);
    assert.deepEqual(states(), [['hello', MessageState.SENT]], 'no timeout after confirmation');
  });

  it('sends a reply with the id it answers, kept through the outbox and on the message', async () => {
    await openGeneral();
    const clientId = client.send('general', 'me too', [], { replyTo: 500 });
    const [frame] = WS.last.sentOf('message:send');
    assert.deepEqual(frame.data, { room: 'general', clientId, text: 'me too', replyTo: 500 });
    assert.equal(client.room('general').store.list()[0].replyTo, 500, 'the pending message knows what it answers');
    assert.equal(JSON.parse(storage.getItem('chillin.outbox.ann'))[0].replyTo, 500);
    WS.last.receive({ type: 'event', data: { ...posted('general', 1, 501, 'ann', 'me too', clientId).data, data: { text: 'me too', clientId, replyTo: 500 } } });
    assert.equal(client.room('general').store.list()[0].replyTo, 500, 'and the confirmed one');
  });

  it('marks a rejected message FAILED and retries it with the same clientId', async () => {
    await openGeneral();
    const clientId = client.send('general', 'spam');
    clock.now = 1000;
    WS.last.receive({ type: 'rejected', data: { clientId, room: 'general', code: 'RATE_LIMITED', message: 'Slow down', retryAfterMs: 4000 } });
    const [item] = client.room('general').store.list();
    assert.equal(item.state, MessageState.FAILED);
    assert.deepEqual(item.error, { code: 'RATE_LIMITED', message: 'Slow down', retryAt: 5000 });

    client.retry(clientId);
    assert.deepEqual(states(), [['spam', MessageState.SENDING]]);
    const sends = WS.last.sentOf('message:send');
    assert.equal(sends.length, 2);
    assert.equal(sends[1].data.clientId, clientId);
  });

  it('fails a send that is not confirmed within 10 s', async () => {
    await openGeneral();
    client.send('general', 'anyone?');
    clock.advance(9999);
    assert.deepEqual(states(), [['anyone?', MessageState.SENDING]]);
    clock.advance(1);
    assert.deepEqual(states(), [['anyone?', MessageState.FAILED]]);
    assert.equal(client.room('general').store.list()[0].error.code, 'TIMEOUT');
  });

  it('a late confirmation still turns a timed-out message SENT', async () => {
    await openGeneral();
    const clientId = client.send('general', 'late');
    clock.advance(10000);
    WS.last.receive(posted('general', 1, 9, 'ann', 'late', clientId));
    assert.deepEqual(states(), [['late', MessageState.SENT]]);
  });

  it('queues messages while disconnected and flushes them in order after re-joining', async () => {
    await openGeneral(4);
    WS.last.serverClose(1006);
    assert.equal(conn.state, State.RECONNECTING);
    const a = client.send('general', 'one');
    const b = client.send('general', 'two');
    assert.deepEqual(states(), [
      ['one', MessageState.SENDING],
      ['two', MessageState.SENDING],
    ]);
    clock.advance(60000);
    assert.deepEqual(states().map((s) => s[1]), [MessageState.SENDING, MessageState.SENDING], 'no timeout while queued');

    conn.connect(); // retry now, between scheduled attempts
    WS.last.open();
    await settle();
    const join = WS.last.sentOf('room:join')[0];
    assert.deepEqual(join.data, { room: 'general', after: 4 });
    assert.equal(WS.last.sentOf('message:send').length, 0, 'nothing is sent before the room is joined');
    await replyJoin(4);
    assert.deepEqual(WS.last.sentOf('message:send').map((f) => f.data.clientId), [a, b]);
  });

  it('keeps the outbox across a reload and sends it after joining', async () => {
    await openGeneral();
    WS.last.serverClose(1006);
    const clientId = client.send('general', 'survives');
    restart();
    start(); // a new page, same storage
    assert.deepEqual(states(), [['survives', MessageState.SENDING]]);
    WS.last.open();
    await settle();
    const join = WS.last.sentOf('room:join')[0];
    assert.deepEqual(join.data, { room: 'general' }, 'a reloaded page joins fresh');
    await replyJoin(3);
    assert.deepEqual(WS.last.sentOf('message:send').map((f) => f.data.clientId), [clientId]);
  });

  it('resends in-flight messages after a reconnect, same clientId, once', async () => {
    await openGeneral();
    const clientId = client.send('general', 'in flight');
    WS.last.serverClose(1001);
    clock.advance(1000);
    WS.last.open();
    await replyJoin(0);
    conn.connect(); // ignored while connected
    const sends = WS.last.sentOf('message:send');
    assert.deepEqual(sends.map((f) => f.data.clientId), [clientId]);
    // The server recognises the resend and answers with the original post.
    WS.last.receive(posted('general', 1, 77, 'ann', 'in flight', clientId));
    assert.deepEqual(states(), [['in flight', MessageState.SENT]]);
  });

  it('re-joins with after: lastSeq and applies what it missed, edits and deletes included', async () => {
    await openGeneral(0);
    WS.last.receive(posted('general', 1, 101, 'bob', 'first'));
    WS.last.receive(posted('general', 2, 102, 'bob', 'second'));
    WS.last.serverClose(1006);
    clock.advance(1000);
    WS.last.open();
    await settle();
    assert.deepEqual(WS.last.sentOf('room:join')[0].data, { room: 'general', after: 2 });
    await replyJoin(5);
    WS.last.receive({ type: 'event', data: { room: 'general', seq: 3, id: 103, kind: Kind.MESSAGE_EDITED, user: 'bob', at: 'x', data: { id: 101, text: 'first!', editedAt: 'x' } } });
    WS.last.receive({ type: 'event', data: { room: 'general', seq: 4, id: 104, kind: Kind.MESSAGE_DELETED, user: 'bob', at: 'x', data: { id: 102 } } });
    WS.last.receive(posted('general', 5, 105, 'bob', 'third'));
    const items = client.room('general').store.list();
    assert.deepEqual(items.map((i) => [i.id, i.text, i.deleted]), [
      [101, 'first!', false],
      [102, '', true],
      [105, 'third', false],
    ]);
    assert.equal(client.room('general').store.lastSeq, 5);
  });

  it('asks room:sync when seq jumps, once, and applies the answer', async () => {
    await openGeneral(0);
    WS.last.receive(posted('general', 1, 101, 'bob', 'a'));
    WS.last.receive(posted('general', 3, 103, 'bob', 'c'));
    WS.last.receive(posted('general', 4, 104, 'bob', 'd'));
    const syncs = WS.last.sentOf('room:sync');
    assert.equal(syncs.length, 1);
    assert.deepEqual(syncs[0].data, { room: 'general', after: 1 });
    WS.last.receive({
      type: 'reply',
      ref: syncs[0].ref,
      data: { ok: true, room: 'general', headSeq: 4, complete: true, events: [2, 3, 4].map((s) => posted('general', s, 100 + s, 'bob', 'abcd'[s - 1]).data) },
    });
    await settle();
    assert.deepEqual(client.room('general').store.list().map((i) => i.text), ['a', 'b', 'c', 'd']);
    assert.equal(client.room('general').store.lastSeq, 4);
    assert.equal(WS.last.sentOf('room:sync').length, 1);
  });

  it('counts unread messages from others in rooms not on screen', async () => {
    await openGeneral();
    const opening = client.openRoom('random');
    await replyJoin(0);
    await opening;
    client.setActiveRoom('random');
    WS.last.receive(posted('general', 1, 1, 'bob', 'x'));
    WS.last.receive(posted('general', 2, 2, 'ann', 'mine'));
    WS.last.receive(posted('random', 1, 3, 'bob', 'seen'));
    assert.equal(client.room('general').unread, 1);
    assert.equal(client.room('random').unread, 0);
    client.setAttentive(false);
    WS.last.receive(posted('random', 2, 4, 'bob', 'away'));
    assert.equal(client.room('random').unread, 1);
    client.setAttentive(true);
    assert.equal(client.room('random').unread, 0);
    client.setActiveRoom('general');
    assert.equal(client.room('general').unread, 0);
  });

  it('does not count the replay of a fresh join as unread', async () => {
    await openGeneral(2);
    WS.last.receive(posted('general', 1, 1, 'bob', 'old'));
    WS.last.receive(posted('general', 2, 2, 'bob', 'old too'));
    assert.equal(client.room('general').unread, 0);
    assert.equal(client.room('general').store.list().length, 2);
  });

  it('takes unread and mention counts from the server, counts them live, and reports reading the room on screen', async () => {
    serverRooms = [
      { id: 'general', lastReadSeq: 4, unreadCount: 3, mentionCount: 1 },
      { id: 'random', lastReadSeq: 2, unreadCount: 0, mentionCount: 0 },
    ];
    restart();
    storage.setItem('chillin.active.ann', 'random');
    start();
    WS.last.open();
    await settle();
    assert.deepEqual(client.rooms().map((r) => [r.id, r.unread, r.mentions, r.lastRead]), [
      ['general', 3, 1, 4],
      ['random', 0, 0, 2],
    ]);
    assert.equal(WS.last.sentOf('room:read').length, 0, 'nothing read before the room is joined');
    // Joined: the room on screen is read up to its head.
    const [general, random] = WS.last.sentOf('room:join');
    WS.last.receive({ type: 'reply', ref: general.ref, data: { ok: true, room: { id: 'general' }, headSeq: 7 } });
    WS.last.receive({ type: 'reply', ref: random.ref, data: { ok: true, room: { id: 'random' }, headSeq: 5 } });
    await settle();
    assert.deepEqual(WS.last.sentOf('room:read').map((f) => f.data), [{ room: 'random', seq: 5 }]);
    assert.equal(client.room('general').unread, 3, 'a room not on screen stays unread');
    client.setActiveRoom('general');
    assert.deepEqual(WS.last.sentOf('room:read').map((f) => f.data), [{ room: 'random', seq: 5 }, { room: 'general', seq: 7 }]);
    assert.deepEqual([client.room('general').unread, client.room('general').mentions], [0, 0]);
    assert.equal(client.room('general').divider, 4, 'the divider follows what was read before');
    // Live: a mention of @ann counts as one, @annie does not.
    WS.last.receive(posted('random', 6, 31, 'bob', 'hey @Ann!'));
    WS.last.receive(posted('random', 7, 32, 'bob', 'not @annie'));
    assert.deepEqual([client.room('random').unread, client.room('random').mentions], [2, 1]);
    WS.last.receive(posted('general', 8, 33, 'bob', 'seen at once'));
    assert.deepEqual(WS.last.sentOf('room:read').map((f) => f.data.seq), [5, 7, 8]);
  });

  it('follows room:read from the user’s other tabs: counts recounted from the messages held', async () => {
    await openGeneral(0);
    client.setActiveRoom(null);
    for (const [seq, text] of [[1, 'a'], [2, '@ann b'], [3, 'c']]) WS.last.receive(posted('general', seq, seq, 'bob', text));
    assert.deepEqual([client.room('general').unread, client.room('general').mentions], [3, 1]);
    WS.last.receive({ type: 'room:read', data: { room: 'general', seq: 2 } });
    assert.deepEqual([client.room('general').unread, client.room('general').mentions, client.room('general').lastRead], [1, 0, 2]);
    WS.last.receive({ type: 'room:read', data: { room: 'general', seq: 1 } });
    assert.equal(client.room('general').lastRead, 2, 'never backwards');
    WS.last.receive({ type: 'room:read', data: { room: 'general', seq: 3 } });
    assert.deepEqual([client.room('general').unread, client.room('general').mentions], [0, 0]);
  });

  it('adds a room joined in another tab and drops one left there, live', async () => {
    await openGeneral(0);
    WS.last.receive({ type: 'room:joined', data: { room: 'random', seq: 5 } });
    assert.deepEqual(client.rooms().map((r) => r.id), ['general', 'random']);
    const join = WS.last.sentOf('room:join').at(-1);
    assert.deepEqual(join.data, { room: 'random' }, 'joined on this connection too');
    WS.last.receive({ type: 'reply', ref: join.ref, data: { ok: true, room: { id: 'random' }, headSeq: 5 } });
    await settle();
    assert.equal(client.room('random').unread, 0, 'no unread badge for a room just joined');
    WS.last.receive({ type: 'room:joined', data: { room: 'random', seq: 5 } });
    assert.equal(WS.last.sentOf('room:join').length, 2, 'a room held is not joined again');
    WS.last.receive({ type: 'room:left', data: { room: 'general', seq: 6 } });
    assert.deepEqual(client.rooms().map((r) => r.id), ['random']);
    assert.equal(WS.last.sentOf('room:leave').length, 0, 'left already');
  });

  it('does not open a room left in another tab after its join, told before the join reply', async () => {
    const opening = client.openRoom('porch');
    const join = WS.last.sentOf('room:join').at(-1);
    WS.last.receive({ type: 'room:left', data: { room: 'porch', seq: 8 } });
    WS.last.receive({ type: 'reply', ref: join.ref, data: { ok: true, room: { id: 'porch' }, headSeq: 7 } });
    await assert.rejects(opening, { code: 'NOT_MEMBER' });
    assert.equal(client.room('porch'), null);

    // A leave from before the join (it was joined again since) does not.
    const again = client.openRoom('porch');
    const rejoin = WS.last.sentOf('room:join').at(-1);
    WS.last.receive({ type: 'room:left', data: { room: 'porch', seq: 8 } });
    WS.last.receive({ type: 'reply', ref: rejoin.ref, data: { ok: true, room: { id: 'porch' }, headSeq: 9 } });
    await again;
    assert.deepEqual(client.rooms().map((r) => r.id), ['porch']);
  });

  it('does not join again a room left elsewhere while disconnected', async () => {
    await openGeneral(3);
    clock.advance(60000); // long enough for any room list to show it
    WS.last.serverClose(1006);
    serverRooms = [];
    clock.advance(1000);
    WS.last.open();
    await settle();
    assert.equal(client.room('general'), null);
    assert.equal(WS.last.sentOf('room:join').length, 0);
  });

  it('puts the divider above the first message by someone else after what was read', async () => {
    serverRooms = [{ id: 'general', lastReadSeq: 2, unreadCount: 2, mentionCount: 0 }];
    restart();
    start();
    WS.last.open();
    await replyJoin(5);
    for (const [seq, user] of [[1, 'bob'], [2, 'bob'], [3, 'ann'], [4, 'bob'], [5, 'bob']]) WS.last.receive(posted('general', seq, 10 + seq, user, `m${seq}`));
    assert.equal(client.firstUnread('general'), 4);
    client.setActiveRoom(null);
    client.setActiveRoom('general');
    assert.equal(client.firstUnread('general'), null, 'nothing unread the next time it comes on screen');
  });

  it('rejects openRoom with the server error and does not open the room', async () => {
    const opening = client.openRoom('secret', { password: 'nope' });
    const join = WS.last.sentOf('room:join')[0];
    assert.deepEqual(join.data, { room: 'secret', password: 'nope' });
    WS.last.receive({ type: 'reply', ref: join.ref, data: { ok: false, error: { code: 'WRONG_PASSWORD', message: 'Wrong password' } } });
    await assert.rejects(opening, { code: 'WRONG_PASSWORD' });
    assert.equal(client.room('secret'), null);
  });

  it('takes the rooms from the server, remembers the room on screen across a reload, and forgets it on log out', async () => {
    await openGeneral();
    const opening = client.openRoom('random');
    await replyJoin(0);
    await opening;
    client.setActiveRoom('random');
    restart();
    storage.setItem('chillin.rooms.ann', JSON.stringify(['stale'])); // what earlier versions kept: not read
    start();
    assert.deepEqual(client.rooms().map((r) => r.id), ['random'], 'the room on screen at once');
    assert.equal(client.activeRoom, 'random');
    WS.last.open();
    await settle();
    assert.deepEqual(client.rooms().map((r) => r.id), ['general', 'random'], 'in the order joined, from the server');
    assert.deepEqual(WS.last.sentOf('room:join').map((f) => f.data.room), ['general', 'random']);
    client.stop({ forget: true });
    assert.equal(storage.getItem('chillin.rooms.ann'), null);
    WS = fakeWebSocketClass();
    serverRooms = [];
    start();
    WS.last.open();
    await settle();
    assert.deepEqual(client.rooms(), []);
    assert.equal(client.activeRoom, null);
  });

  it('leaving a room drops it and its unsent messages', async () => {
    await openGeneral();
    WS.last.serverClose(1006);
    client.send('general', 'never mind');
    clock.advance(1000);
    WS.last.open();
    client.leaveRoom('general');
    assert.equal(client.room('general'), null);
    assert.equal(storage.getItem('chillin.outbox.ann'), null);
    assert.deepEqual(WS.last.sentOf('room:leave').map((f) => f.data), [{ room: 'general' }]);
  });

  it('shows who else is typing, and forgets it after a while', async () => {
    await openGeneral();
    WS.last.receive({ type: 'typing:update', data: { room: 'general', users: ['bob', 'ann', 'cat'] } });
    assert.deepEqual(client.room('general').typing, ['bob', 'cat']);
    clock.advance(10000);
    assert.deepEqual(client.room('general').typing, []);
  });

  it('sends typing signals only for joined rooms', async () => {
    await openGeneral();
    client.sendTyping('general', 'typing:start');
    client.sendTyping('elsewhere', 'typing:start');
    WS.last.serverClose(1006);
    client.sendTyping('general', 'typing:stop');
    assert.deepEqual(WS.instances[0].sent.filter((f) => f.type.startsWith('typing:')), [{ type: 'typing:start', data: { room: 'general' } }]);
  });

  it('tracks presence of members', async () => {
    restart();
    const api = fakeApi();
    api.members = async () =>
      page([
        { user: 'bob', displayName: 'Bob', status: 'online' },
        { user: 'ann', displayName: 'Ann', status: 'online' },
        { user: 'cat', displayName: 'Cat', status: 'offline' },
      ]);
    start(api);
    WS.last.open();
    await openGeneral();
    assert.deepEqual(client.members('general').map((m) => [m.user, m.status]), [
      ['ann', 'online'],
      ['bob', 'online'],
      ['cat', 'offline'],
    ]);
    WS.last.receive({ type: 'presence:update', data: { user: 'cat', status: 'away', lastSeen: 'x' } });
    WS.last.receive({ type: 'presence:update', data: { user: 'bob', status: 'offline', lastSeen: 'x' } });
    assert.deepEqual(client.members('general').map((m) => [m.user, m.status]), [
      ['ann', 'online'],
      ['cat', 'away'],
      ['bob', 'offline'],
    ]);
    assert.equal(client.displayName('bob'), 'Bob');
  });

  it('sorts members by name naturally within a presence: 2 before 10, case aside', async () => {
    restart();
    const api = fakeApi();
    api.members = async () =>
      page([
        { user: 'u10', displayName: 'user 10', status: 'online' },
        { user: 'u2', displayName: 'user 2', status: 'online' },
        { user: 'b', displayName: 'bea', status: 'online' },
        { user: 'a', displayName: 'Al', status: 'online' },
      ]);
    start(api);
    WS.last.open();
    await openGeneral();
    assert.deepEqual(client.members('general').map((m) => m.user), ['a', 'b', 'u2', 'u10']);
  });

  it('reloads the member list once when people join, for their names and presence', async () => {
    restart();
    const api = fakeApi();
    let list = [{ user: 'ann', displayName: 'Ann', status: 'online' }];
    let loads = 0;
    api.members = async () => {
      loads += 1;
      return page(list);
    };
    start(api);
    WS.last.open();
    await openGeneral(1);
    assert.equal(loads, 1);
    const joined = (seq, user) => ({
      type: 'event',
      data: { room: 'general', seq, id: 100 + seq, kind: Kind.MEMBER_JOINED, user, at: '2030-01-01T00:00:00Z', data: {} },
    });
    WS.last.receive(joined(2, 'bob'));
    WS.last.receive(joined(3, 'cat'));
    assert.deepEqual(client.members('general').map((m) => [m.user, m.displayName, m.status]), [
      ['ann', 'Ann', 'online'],
      ['bob', 'bob', 'offline'],
      ['cat', 'cat', 'offline'],
    ]);
    list = [...list, { user: 'bob', displayName: 'Bob', status: 'online' }, { user: 'cat', displayName: 'Cat', status: 'away' }];
    clock.advance(200);
    await settle();
    assert.equal(loads, 2, 'one reload for both joins');
    assert.deepEqual(client.members('general').map((m) => [m.user, m.displayName, m.status]), [
      ['ann', 'Ann', 'online'],
      ['bob', 'Bob', 'online'],
      ['cat', 'Cat', 'away'],
    ]);
  });

  it('keeps a member the log showed joining while the member list lags behind', async () => {
    restart();
    const api = fakeApi();
    let list = [{ user: 'bob', displayName: 'Bob', status: 'online' }]; // the projection without ann's join yet
    let loads = 0;
    let answer;
    api.members = () => {
      loads += 1;
      return new Promise((resolve) => {
        answer = () => resolve(page(list));
      });
    };
    start(api);
    WS.last.open();
    const opening = client.openRoom('general');
    await replyJoin(1);
    await opening;
    // The join's replay shows ann (this user) joining before the list arrives.
    WS.last.receive({
      type: 'event',
      data: { room: 'general', seq: 2, id: 102, kind: Kind.MEMBER_JOINED, user: 'ann', at: '2030-01-01T00:00:00Z', data: {} },
    });
    answer();
    await settle();
    assert.deepEqual(client.members('general').map((m) => m.user), ['bob', 'ann'], 'ann stays although the list lacks her');
    list = [...list, { user: 'ann', displayName: 'Ann', status: 'online' }];
    clock.advance(200);
    answer();
    await settle();
    assert.equal(loads, 2);
    assert.deepEqual(client.members('general').map((m) => [m.user, m.displayName, m.status]), [
      ['ann', 'Ann', 'online'],
      ['bob', 'Bob', 'online'],
    ]);
    assert.equal(client.displayName('ann'), 'Ann');
  });

  it('lists the creator of a new room while the member list lags behind', async () => {
    restart();
    const api = fakeApi();
    let answer;
    api.members = () => new Promise((resolve) => {
      answer = () => resolve(page([])); // the projection without the room yet
    });
    start(api);
    WS.last.open();
    const opening = client.openRoom('general');
    await replyJoin(1);
    await opening;
    // The join's replay shows ann (this user) creating the room.
    WS.last.receive({
      type: 'event',
      data: { room: 'general', seq: 1, id: 101, kind: Kind.ROOM_CREATED, user: 'ann', at: '2030-01-01T00:00:00Z', data: { name: 'General' } },
    });
    answer();
    await settle();
    assert.deepEqual(client.members('general').map((m) => m.user), ['ann'], 'the creator is a member');
  });

  it('pages a member list past its first page on demand, and keeps those pages when the first is reloaded', async () => {
    restart();
    const api = fakeApi();
    const first = [
      { user: 'ann', displayName: 'Ann', status: 'online' },
      { user: 'bob', displayName: 'Bob', status: 'offline' },
    ];
    const second = [
      { user: 'cat', displayName: 'Cat', status: 'offline' },
      { user: 'dan', displayName: 'Dan', status: 'away' },
    ];
    api.members = async (room, options = {}) => {
      api.calls.push(['members', room, options]);
      return options.cursor === 'bob' ? page(second) : page(first, 'bob');
    };
    start(api);
    WS.last.open();
    await openGeneral(1);
    await settle();
    const users = () => client.members('general').map((m) => m.user).sort();
    assert.deepEqual(users(), ['ann', 'bob']);
    assert.deepEqual(client.memberPages('general'), { hasMore: true, loading: false, failed: false });

    const events = [];
    client.on('members', ({ room }) => events.push([room, client.memberPages(room).loading]));
    const loading = client.loadMoreMembers('general');
    client.loadMoreMembers('general'); // one page at a time
    await loading;
    assert.deepEqual(events, [['general', true], ['general', false]]);
    assert.deepEqual(
      api.calls.filter((c) => c[0] === 'members').map((c) => c[2].cursor ?? null),
      [null, 'bob'],
      'the second page is asked for once, after the first page\'s next',
    );
    assert.deepEqual(users(), ['ann', 'bob', 'cat', 'dan']);
    assert.equal(client.displayName('dan'), 'Dan');
    assert.equal(client.status('dan'), 'away');
    assert.deepEqual(client.memberPages('general'), { hasMore: false, loading: false, failed: false });
    await client.loadMoreMembers('general');
    assert.equal(api.calls.filter((c) => c[0] === 'members').length, 2, 'nothing more is asked for after the last page');

    // Someone joins: the first page is reloaded, and the second stays.
    WS.last.receive({
      type: 'event',
      data: { room: 'general', seq: 2, id: 102, kind: Kind.MEMBER_JOINED, user: 'eve', at: '2030-01-01T00:00:00Z', data: {} },
    });
    clock.advance(200);
    await settle();
    assert.equal(api.calls.filter((c) => c[0] === 'members').length, 3);
    assert.deepEqual(users(), ['ann', 'bob', 'cat', 'dan', 'eve']);
    assert.deepEqual(client.memberPages('general'), { hasMore: false, loading: false, failed: false });

    // Someone on the second page leaves.
    WS.last.receive({
      type: 'event',
      data: { room: 'general', seq: 3, id: 103, kind: Kind.MEMBER_LEFT, user: 'cat', at: '2030-01-01T00:00:00Z', data: {} },
    });
    assert.deepEqual(users(), ['ann', 'bob', 'dan', 'eve']);
  });

  it('counts the members of a room from the join reply\'s room, not from its first page', async () => {
    WS.last.open();
    const opening = client.openRoom('general');
    const join = WS.last.sentOf('room:join').at(-1);
    WS.last.receive({ type: 'reply', ref: join.ref, data: { ok: true, room: { id: 'general', memberCount: 250 }, headSeq: 0, members: [], online: [], membersNext: 'x' } });
    await opening;
    assert.equal(client.room('general').memberCount, 250);
  });

  it('reports a 4001 close as unauthorized', async () => {
    let unauthorized = 0;
    client.on('unauthorized', () => unauthorized++);
    WS.last.serverClose(4001);
    assert.equal(unauthorized, 1);
  });

  it('sends attachments with a message, shows them at once, and keeps them in the outbox across a reload', async () => {
    await openGeneral();
    const cat = { key: 'a/abc/cat.png', name: 'cat.png', contentType: 'image/png', size: 2048 };
    const clientId = client.send('general', 'look', [cat]);
    const [frame] = WS.last.sentOf('message:send');
    assert.deepEqual(frame.data, { room: 'general', clientId, text: 'look', attachments: [cat] });
    const [pending] = client.room('general').store.list();
    assert.deepEqual(pending.attachments, [{ ...cat, url: '/api/files/a/abc/cat.png' }], 'shown from the key while SENDING');

    // A reload before the confirmation: the attachments go out again with the same clientId.
    restart();
    start();
    WS.last.open();
    await replyJoin(0);
    const [again] = WS.last.sentOf('message:send');
    assert.deepEqual(again.data, { room: 'general', clientId, text: 'look', attachments: [cat] });

    const confirmed = posted('general', 1, 77, 'ann', 'look', clientId);
    confirmed.data.data.attachments = [{ ...cat, url: '/api/files/a/abc/cat.png' }];
    WS.last.receive(confirmed);
    const [sent] = client.room('general').store.list();
    assert.equal(sent.state, MessageState.SENT);
    assert.deepEqual(sent.attachments, [{ ...cat, url: '/api/files/a/abc/cat.png' }]);
  });

  it('sends no attachments field for a text-only message; with attachments, blank text goes as none', async () => {
    await openGeneral();
    client.send('general', 'plain');
    assert.equal('attachments' in WS.last.sentOf('message:send')[0].data, false);
    const cat = { key: 'a/abc/cat.png', name: 'cat.png', contentType: 'image/png', size: 2048 };
    client.send('general', ' \n ', [cat]);
    assert.equal(WS.last.sentOf('message:send')[1].data.text, '');
    assert.throws(() => client.send('general', ' ', []), { code: 'EMPTY_MESSAGE' });
    assert.throws(() => client.send('general', 'x'.repeat(2001), [cat]), { code: 'MESSAGE_TOO_LONG' });
  });

  it('follows profile changes: hello, member lists and user:update frames, live', async () => {
    restart();
    const api = fakeApi();
    api.members = async () =>
      page([
        { user: 'bob', displayName: 'Bob', avatarUrl: null, status: 'online' },
        { user: 'ann', displayName: 'Ann', avatarUrl: '/api/files/v/ann/old', status: 'online' },
      ]);
    start(api);
    const profiles = [];
    const members = [];
    client.on('profile', ({ user }) => profiles.push(user));
    client.on('members', ({ room }) => members.push(room));
    WS.last.open();
    WS.last.receive({ type: 'hello', data: { user: { id: 'ann', username: 'ann', displayName: 'Ann', avatarUrl: '/api/files/v/ann/old' } } });
    assert.deepEqual(profiles, ['ann']);
    assert.equal(client.avatarUrl('ann'), '/api/files/v/ann/old');
    await openGeneral();
    assert.equal(client.avatarUrl('bob'), '', 'no avatar: initials');

    members.length = 0;
    const bob = { id: 'bob', username: 'bob', displayName: 'Bobby', avatarUrl: '/api/files/v/bob/abc' };
    WS.last.receive({ type: 'user:update', data: { user: bob } });
    assert.equal(client.avatarUrl('bob'), '/api/files/v/bob/abc');
    assert.equal(client.displayName('bob'), 'Bobby');
    assert.deepEqual(
      client.members('general').map((m) => [m.user, m.displayName, m.avatarUrl]),
      [
        ['ann', 'Ann', '/api/files/v/ann/old'],
        ['bob', 'Bobby', '/api/files/v/bob/abc'],
      ],
    );
    assert.deepEqual(members, ['general'], 'the room holding bob re-renders');
    assert.deepEqual(profiles, ['ann', 'bob']);

    WS.last.receive({ type: 'user:update', data: { user: bob } });
    assert.deepEqual(profiles, ['ann', 'bob'], 'the same profile again changes nothing');
    WS.last.receive({ type: 'user:update', data: { user: { ...bob, avatarUrl: 'https://evil.test/x.png' } } });
    assert.equal(client.avatarUrl('bob'), '', 'only the server’s own file paths are used');
    WS.last.receive({ type: 'user:update', data: { user: { displayName: 'Nobody' } } });
    assert.deepEqual(profiles, ['ann', 'bob', 'bob'], 'a frame without a user id is ignored');
  });

  it('sets the avatar through the API and shows it at once', async () => {
    restart();
    const api = fakeApi();
    api.setAvatar = async (key) => {
      api.calls.push(['setAvatar', key]);
      return { id: 'ann', username: 'ann', displayName: 'Ann', avatarUrl: `/api/files/${key}` };
    };
    start(api);
    WS.last.open();
    const user = await client.setAvatar('v/ann/xyz');
    assert.equal(user.avatarUrl, '/api/files/v/ann/xyz');
    assert.deepEqual(api.calls.at(-1), ['setAvatar', 'v/ann/xyz']);
    assert.equal(client.avatarUrl('ann'), '/api/files/v/ann/xyz');
  });

  it('sets the user’s status with presence:set, and refuses unknown ones', async () => {
    await openGeneral();
    assert.equal(client.myStatus, 'online');
    assert.equal(client.setStatus('away'), true);
    assert.deepEqual(WS.last.sentOf('presence:set'), [{ type: 'presence:set', data: { status: 'away' } }]);
    assert.equal(client.myStatus, 'away');
    assert.throws(() => client.setStatus('invisible'), { code: 'BAD_STATUS' });
    const notices = [];
    client.on('notice', ({ text }) => notices.push(text));
    WS.last.serverClose(1006);
    assert.equal(client.setStatus('busy'), false);
    assert.equal(client.myStatus, 'away');
    assert.match(notices[0], /offline/);
  });

  it('refuses empty and over-long messages', async () => {
    await openGeneral();
    assert.throws(() => client.send('general', '  \n '), { code: 'EMPTY_MESSAGE' });
    assert.throws(() => client.send('general', '😀'.repeat(2001)), { code: 'MESSAGE_TOO_LONG' });
    client.send('general', '😀'.repeat(2000));
    assert.equal(WS.last.sentOf('message:send').length, 1);
  });
});
