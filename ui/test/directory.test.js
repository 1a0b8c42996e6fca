import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';

import { RoomDirectory } from '../js/directory.js';
import { ChatError } from '../js/errors.js';
import { FakeClock } from './fakes.js';

const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Rooms room-1 … room-n, in creation order. */
function rooms(n) {
  return Array.from({ length: n }, (_, i) => ({ id: `room-${i + 1}`, name: `Room ${i + 1}`, memberCount: 1, onlineCount: 0 }));
}

/**
 * GET /api/rooms over a list of rooms, paged and searched as the server
 * does it. With hold, every answer waits until release(i) is called.
 */
function fakeApi(all, { hold = false } = {}) {
  const api = {
    all,
    calls: [],
    held: [],
    fail: null,
    async rooms({ q = '', cursor = null, limit = 1000 } = {}) {
      api.calls.push({ q, cursor, limit });
      if (hold) await new Promise((resolve) => api.held.push(resolve));
      if (api.fail) throw api.fail;
      const matching = api.all.filter((r) => !q || r.name.toLowerCase().includes(q.toLowerCase()));
      const from = cursor ? matching.findIndex((r) => r.id === cursor) + 1 : 0;
      const page = matching.slice(from, from + limit);
      const next = from + limit < matching.length ? page.at(-1).id : null;
      return { rooms: page, next };
    },
    release(i) {
      api.held[i]();
    },
  };
  return api;
}

const ids = (dir) => dir.rooms.map((r) => r.id);

describe('RoomDirectory', () => {
  let clock;

  beforeEach(() => {
    clock = new FakeClock();
  });

  function directory(api) {
    return new RoomDirectory({ api, timers: clock.timers, pageSize: 5, searchDelayMs: 250 });
  }

  it('loads the first page, then the next ones, until the last', async () => {
    const api = fakeApi(rooms(12));
    const dir = directory(api);
    assert.equal(dir.loaded, false);
    await dir.refresh();
    assert.deepEqual(ids(dir), ['room-1', 'room-2', 'room-3', 'room-4', 'room-5']);
    assert.equal(dir.hasMore, true);
    await dir.loadMore();
    await dir.loadMore();
    assert.deepEqual(ids(dir), rooms(12).map((r) => r.id));
    assert.equal(dir.hasMore, false);
    await dir.loadMore();
    assert.deepEqual(
      api.calls.map((c) => [c.cursor, c.limit]),
      [
        [null, 5],
        ['room-5', 5],
        ['room-10', 5],
      ],
      'each page after the cursor of the one before; none after the last',
    );
  });

  it('asks for one page at a time', async () => {
    const api = fakeApi(rooms(12), { hold: true });
    const dir = directory(api);
    const first = dir.refresh();
    assert.equal(dir.loading, true);
    dir.refresh();
    dir.loadMore();
    api.release(0);
    await first;
    assert.equal(api.calls.length, 1);
    assert.equal(dir.loading, false);
    const more = dir.loadMore();
    dir.loadMore();
    api.release(1);
    await more;
    assert.equal(api.calls.length, 2);
    assert.equal(dir.rooms.length, 10);
  });

  it('refreshes as many rooms as were loaded, showing new rooms and new counts', async () => {
    const api = fakeApi(rooms(7));
    const dir = directory(api);
    await dir.refresh();
    await dir.loadMore();
    assert.equal(dir.hasMore, false);
    api.all = [...rooms(8)];
    api.all[6] = { ...api.all[6], memberCount: 3 };
    await dir.refresh();
    assert.deepEqual(api.calls.at(-1), { q: '', cursor: null, limit: 7 });
    assert.equal(dir.entry('room-7').memberCount, 3);
    assert.equal(dir.rooms.length, 7);
    assert.equal(dir.hasMore, true, 'a room created since shows behind Show more');
    await dir.loadMore();
    assert.deepEqual(ids(dir).slice(-2), ['room-7', 'room-8']);
  });

  it('keeps what was paged past the largest page when it refreshes', async () => {
    const api = fakeApi(rooms(1003));
    const dir = new RoomDirectory({ api, timers: clock.timers, pageSize: 1000 });
    await dir.refresh();
    await dir.loadMore();
    assert.equal(dir.rooms.length, 1003);
    api.all[1001] = { ...api.all[1001], name: 'Renamed' };
    await dir.refresh();
    assert.equal(api.calls.at(-1).limit, 1000);
    assert.equal(dir.rooms.length, 1003, 'the rooms after the refreshed page stay');
    assert.equal(dir.hasMore, false);
    assert.equal(new Set(ids(dir)).size, 1003);
  });

  it('searches once typing pauses, the results replacing the list', async () => {
    const all = [...rooms(12), { id: 'cafe', name: 'Café Crème', memberCount: 2, onlineCount: 1 }];
    const api = fakeApi(all);
    const dir = directory(api);
    await dir.refresh();
    const changes = [];
    dir.on('change', () => changes.push(dir.query));
    dir.search('c');
    dir.search('ca');
    dir.search('  café ');
    clock.advance(249);
    assert.equal(api.calls.length, 1, 'nothing is sent while typing');
    assert.equal(dir.query, '', 'the list stays until the search is sent');
    clock.advance(1);
    await settle();
    assert.deepEqual(api.calls.at(-1), { q: 'café', cursor: null, limit: 5 });
    assert.equal(api.calls.length, 2, 'one search for the three keystrokes');
    assert.equal(dir.query, 'café');
    assert.deepEqual(ids(dir), ['cafe']);
    assert.equal(dir.hasMore, false);
    assert.ok(changes.length > 0);
  });

  it('narrows the list shown while a search waits for its answer, which then decides', async () => {
    const all = [...rooms(7), { id: 'cafe', name: 'Café Crème', memberCount: 2, onlineCount: 1 }];
    const api = fakeApi(all, { hold: true });
    const dir = directory(api);
    const first = dir.refresh();
    api.release(0);
    await first;
    assert.deepEqual(ids(dir), ['room-1', 'room-2', 'room-3', 'room-4', 'room-5']);
    dir.search('ROOM-3');
    clock.advance(250);
    assert.equal(dir.query, 'ROOM-3');
    assert.deepEqual(ids(dir), ['room-3'], 'the room shown whose id holds the query, before any answer');
    assert.equal(dir.loaded, false, 'not an answer: no "nothing found" yet');
    dir.search('room');
    clock.advance(250);
    assert.deepEqual(ids(dir), ['room-3'], 'narrowed from what is on screen');
    api.release(2);
    await settle();
    assert.deepEqual(ids(dir), ['room-1', 'room-2', 'room-3', 'room-4', 'room-5'], 'the answer replaces the stand-ins');
    assert.equal(dir.hasMore, true);
    assert.equal(dir.loaded, true);
  });

  it('pages a search with its query', async () => {
    const api = fakeApi(rooms(25));
    const dir = directory(api);
    dir.search('room 1'); // room 1, 10-19: 11 rooms
    clock.advance(250);
    await settle();
    assert.equal(dir.rooms.length, 5);
    await dir.loadMore();
    await dir.loadMore();
    assert.deepEqual(ids(dir), ['room-1', ...Array.from({ length: 10 }, (_, i) => `room-${10 + i}`)]);
    assert.ok(api.calls.slice(1).every((c) => c.q === 'room 1'));
    assert.equal(dir.hasMore, false);
  });

  it('goes back to the paged list, as far as it was paged, when the search is cleared', async () => {
    const api = fakeApi(rooms(12));
    const dir = directory(api);
    await dir.refresh();
    await dir.loadMore();
    dir.search('room 3');
    clock.advance(250);
    await settle();
    assert.deepEqual(ids(dir), ['room-3']);
    dir.search('   ');
    assert.equal(dir.query, '');
    assert.equal(dir.rooms.length, 10, 'at once, without waiting for the server');
    await settle();
    assert.equal(dir.rooms.length, 10);
    assert.equal(dir.hasMore, true);
  });

  it('drops the answer of a search that was changed or cleared meanwhile', async () => {
    const api = fakeApi([...rooms(3), { id: 'blue', name: 'Blue', memberCount: 1, onlineCount: 0 }], { hold: true });
    const dir = directory(api);
    const first = dir.refresh();
    api.release(0);
    await first;
    dir.search('room');
    clock.advance(250);
    assert.equal(api.calls.length, 2);
    dir.search('blue');
    clock.advance(250);
    assert.equal(api.calls.length, 3, 'the new search does not wait for the old one');
    api.release(2);
    await settle();
    assert.deepEqual(ids(dir), ['blue']);
    api.release(1); // the answer for "room" arrives last
    await settle();
    assert.equal(dir.query, 'blue');
    assert.deepEqual(ids(dir), ['blue'], 'the late answer of the old search is ignored');

    dir.search('room');
    clock.advance(250);
    dir.search('');
    api.release(3);
    await settle();
    assert.equal(dir.query, '');
    assert.deepEqual(ids(dir), ['room-1', 'room-2', 'room-3', 'blue'], 'a cleared search leaves the paged list');
  });

  it('keeps the list and says so when a page fails, and loads it on a later try', async () => {
    const api = fakeApi(rooms(7));
    const dir = directory(api);
    await dir.refresh();
    api.fail = new ChatError('UNAVAILABLE', 'the room list is unavailable', { status: 503 });
    await dir.loadMore();
    assert.equal(dir.error?.code, 'UNAVAILABLE');
    assert.equal(dir.rooms.length, 5);
    assert.equal(dir.hasMore, true);
    api.fail = null;
    await dir.loadMore();
    assert.equal(dir.error, null);
    assert.equal(dir.rooms.length, 7);
  });

  it('finds a room by id in the paged list and in the search', async () => {
    const api = fakeApi(rooms(12));
    const dir = directory(api);
    await dir.refresh();
    dir.search('room 12');
    clock.advance(250);
    await settle();
    assert.equal(dir.entry('room-12').name, 'Room 12');
    assert.equal(dir.entry('room-2').name, 'Room 2');
    assert.equal(dir.entry('room-11'), null);
  });
});
