// The parts ChatClient is made of, each on its own with fakes: the member
// lists, the sends and who is typing. (ChatClient end to end is client.test.js.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RoomMembers } from '../js/members.js';
import { Outbox } from '../js/outbox.js';
import { Presence } from '../js/presence.js';
import { Profiles } from '../js/profiles.js';
import { newRoom } from '../js/room.js';
import { MessageState } from '../js/roomstore.js';
import { Sends } from '../js/sends.js';
import { TYPING_EXPIRY_MS, Typists } from '../js/typists.js';
import { FakeClock } from './fakes.js';

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('RoomMembers', () => {
  function setup(pages) {
    const clock = new FakeClock();
    const calls = [];
    const events = [];
    const notices = [];
    const open = new Set();
    const api = {
      async members(room, options) {
        calls.push(options?.cursor ?? null);
        const page = pages.shift();
        if (page instanceof Error) throw page;
        return page;
      },
    };
    const members = new RoomMembers({
      api,
      profiles: new Profiles(),
      presence: new Presence(),
      timers: clock.timers,
      isOpen: (room) => open.has(room),
      emit: (name, payload) => events.push([name, payload.room]),
      notice: (text) => notices.push(text),
    });
    return { clock, calls, events, notices, open, members };
  }

  it('keeps the pages after the first through a reload of the first, until the first is the whole list', async () => {
    const { calls, open, members } = setup([
      { members: [{ user: 'bob', status: 'online' }], next: 'c1' },
      { members: [{ user: 'zed', displayName: 'Zed' }], next: null },
      { members: [{ user: 'amy' }], next: 'c1' },
      { members: [{ user: 'amy' }], next: null },
    ]);
    const room = newRoom('r');
    open.add(room);
    await members.load(room);
    assert.deepEqual(members.pages(room), { hasMore: true, loading: false, failed: false });
    await members.loadMore(room);
    assert.deepEqual(calls, [null, 'c1']);
    assert.deepEqual(members.pages(room), { hasMore: false, loading: false, failed: false });
    assert.deepEqual(members.list('r').map((m) => [m.user, m.displayName, m.status]), [
      ['bob', 'bob', 'online'],
      ['zed', 'Zed', 'offline'],
    ]);
    await members.load(room);
    assert.deepEqual(members.list('r').map((m) => m.user), ['amy', 'zed'], 'the later page stays');
    await members.load(room);
    assert.deepEqual(members.list('r').map((m) => m.user), ['amy'], 'one page is the whole list now');
  });

  it('keeps a newcomer the log showed while the list lags, asking again a few times, one fetch at a time', async () => {
    const empty = () => ({ members: [], next: null });
    const { clock, calls, open, members } = setup(Array.from({ length: 10 }, empty));
    const room = newRoom('r');
    open.add(room);
    members.joined(room, 'cat');
    members.joined(room, 'dan');
    assert.deepEqual(members.list('r').map((m) => m.user), ['cat', 'dan']);
    for (let i = 0; i < 8; i++) {
      clock.advance(200);
      await settle();
    }
    assert.equal(calls.length, 5, 'five lists lacked them: no more reloads');
    assert.deepEqual(members.list('r').map((m) => m.user), ['cat', 'dan'], 'still shown');
    members.left('r', 'cat');
    assert.deepEqual(members.list('r').map((m) => m.user), ['dan']);
  });

  it('drops a page that comes for a room closed meanwhile, and says when a page failed', async () => {
    const { notices, open, members } = setup([{ members: [{ user: 'bob' }], next: 'c1' }, new Error('boom')]);
    const room = newRoom('r');
    await members.load(room);
    assert.deepEqual(members.list('r'), [], 'not open');
    open.add(room);
    room.membersNext = 'c1';
    await members.loadMore(room);
    assert.deepEqual(members.pages(room), { hasMore: true, loading: false, failed: true });
    assert.deepEqual(notices, ['Could not load more members: boom']);
  });
});

describe('Sends', () => {
  function setup({ online = true } = {}) {
    const clock = new FakeClock();
    const frames = [];
    const outbox = new Outbox();
    const room = newRoom('r');
    let n = 0;
    const sends = new Sends({
      connection: { send: (frame) => online && (frames.push(frame), true) },
      outbox,
      timers: clock.timers,
      now: () => clock.now,
      newId: () => `c${++n}`,
      timeoutMs: 1000,
      me: 'ann',
      room: (id) => (id === 'r' ? room : undefined),
      emit: () => {},
    });
    return { clock, frames, outbox, room, sends };
  }

  it('sends once joined, fails what is not confirmed in time, and retries with the same clientId', () => {
    const { clock, frames, room, sends } = setup();
    const id = sends.send(room, 'hi', [], null);
    assert.equal(frames.length, 0, 'not joined');
    assert.equal(sends.waiting, 1);
    room.joined = true;
    sends.flush(room);
    assert.deepEqual(frames.map((f) => f.data), [{ room: 'r', clientId: id, text: 'hi' }]);
    clock.advance(1000);
    assert.equal(room.store.list()[0].state, MessageState.FAILED);
    assert.equal(sends.waiting, 0, 'a failed message waits for Retry');
    sends.retry(id);
    assert.deepEqual(frames.map((f) => f.data.clientId), [id, id]);
    sends.confirm(id);
    clock.advance(5000);
    assert.equal(clock.pending, 0);
    assert.equal(sends.waiting, 0);
  });

  it('fails a rejected message, sends it again after a lost connection, and drops a room’s messages', () => {
    const { clock, frames, outbox, room, sends } = setup();
    room.joined = true;
    const a = sends.send(room, 'a', [], null);
    const b = sends.send(room, 'b', [], 7);
    assert.deepEqual(frames[1].data, { room: 'r', clientId: b, text: 'b', replyTo: 7 });
    assert.equal(sends.rejected({ clientId: 'nope', code: 'X' }), false);
    assert.equal(sends.rejected({ clientId: a, code: 'RATE_LIMITED', retryAfterMs: 500 }), true);
    assert.deepEqual(outbox.get(a).error, { code: 'RATE_LIMITED', message: 'RATE_LIMITED', retryAt: 500 });
    sends.lost();
    assert.equal(clock.pending, 0, 'no confirmation awaited after a drop');
    sends.flush(room);
    assert.deepEqual(frames.map((f) => f.data.clientId), [a, b, b], 'in flight again, the failed one waits');
    sends.confirmListed([{ user: 'ann', clientId: b }]);
    assert.deepEqual(outbox.entries().map((e) => e.clientId), [a]);
    sends.drop('r');
    assert.deepEqual(outbox.entries(), []);
  });

  it('refuses an empty message', () => {
    const { room, sends } = setup();
    assert.throws(() => sends.send(room, '  ', [], null), { code: 'EMPTY_MESSAGE' });
  });
});

describe('Typists', () => {
  it('shows who else is typing, fades out without a follow-up, and clears on a lost connection', () => {
    const clock = new FakeClock();
    const events = [];
    const typists = new Typists({ me: 'ann', timers: clock.timers, emit: (name, payload) => events.push([name, payload.room]) });
    const room = newRoom('r');
    typists.update(room, ['ann', 'bob']);
    assert.deepEqual(room.typing, ['bob']);
    clock.advance(TYPING_EXPIRY_MS - 1);
    typists.update(room, ['bob', 'cat']);
    clock.advance(TYPING_EXPIRY_MS - 1);
    assert.deepEqual(room.typing, ['bob', 'cat'], 'a follow-up restarts the wait');
    clock.advance(1);
    assert.deepEqual(room.typing, []);
    typists.update(room, ['bob']);
    typists.lost([room]);
    assert.deepEqual(room.typing, []);
    assert.equal(events.length, 5);
    typists.drop('r');
    assert.equal(clock.pending, 0);
  });
});

describe('RoomMembers profiles and presence', () => {
  it('tells the rooms listing a user, and the profile event, only when something changed', async () => {
    const events = [];
    const profiles = new Profiles();
    const presence = new Presence();
    const api = { members: async () => ({ members: [{ user: 'bob', displayName: 'Bob' }], next: null }) };
    const members = new RoomMembers({ api, profiles, presence, timers: new FakeClock().timers, isOpen: () => true, emit: (name, p) => events.push([name, p.room ?? p.user]), notice: () => {} });
    await members.load(newRoom('r'));
    events.length = 0;
    members.profileChanged({ id: 'bob', displayName: 'Robert' });
    members.profileChanged({ id: 'bob', displayName: 'Robert' });
    members.profileChanged({ username: 'cat', displayName: 'Cat' });
    members.profileChanged(undefined);
    assert.deepEqual(events, [['members', 'r'], ['profile', 'bob'], ['profile', 'cat']]);
    assert.equal(members.displayName('bob'), 'Robert');
    events.length = 0;
    members.presenceChanged({ user: 'bob', status: 'away' });
    members.presenceChanged({ user: 'cat', status: 'busy' });
    members.presenceChanged({ user: 'bob' });
    assert.deepEqual(events, [['members', 'r']]);
    assert.deepEqual(members.list('r').map((m) => [m.user, m.status]), [['bob', 'away']]);
  });
});
