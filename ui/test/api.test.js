import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Api } from '../js/api.js';

/** A fetch answering from a list of [status, body], recording the paths asked. */
function fakeFetch(answers) {
  const paths = [];
  const fetch = async (input) => {
    paths.push(input);
    const [status, body] = answers.shift();
    return { status, ok: status < 300, statusText: '', json: async () => body };
  };
  return { fetch, paths };
}

describe('Api.myRooms', () => {
  it('reads every page of the user’s rooms, in order', async () => {
    const { fetch, paths } = fakeFetch([
      [200, { rooms: [{ id: 'a' }, { id: 'b' }], next: 'b' }],
      [200, { rooms: [{ id: 'c' }] }],
    ]);
    const rooms = await new Api({ fetch }).myRooms();
    assert.deepEqual(rooms.map((r) => r.id), ['a', 'b', 'c']);
    assert.deepEqual(paths, ['/api/me/rooms?limit=100', '/api/me/rooms?limit=100&cursor=b']);
  });

  it('starts again when the cursor room was left meanwhile, and gives up on other errors', async () => {
    const { fetch, paths } = fakeFetch([
      [200, { rooms: [{ id: 'a' }], next: 'a' }],
      [400, { error: { code: 'BAD_REQUEST', message: 'cursor' } }],
      [200, { rooms: [{ id: 'b' }] }],
    ]);
    assert.deepEqual((await new Api({ fetch }).myRooms()).map((r) => r.id), ['b']);
    assert.equal(paths.length, 3);
    const down = fakeFetch([[503, { error: { code: 'UNAVAILABLE', message: 'later' } }]]);
    await assert.rejects(new Api({ fetch: down.fetch }).myRooms(), { code: 'UNAVAILABLE', status: 503 });
  });
});
