import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Presence, presenceRank } from '../js/presence.js';
import { Profiles } from '../js/profiles.js';

describe('Presence', () => {
  it('is offline until heard of, and says whether a status changed', () => {
    const p = new Presence();
    assert.equal(p.status('ann'), 'offline');
    assert.equal(p.chosen('ann'), 'online');
    assert.equal(p.set('ann', 'away'), true);
    assert.equal(p.set('ann', 'away'), false);
    assert.equal(p.status('ann'), 'away');
    assert.equal(p.chosen('ann'), 'away');
    p.set('ann', 'offline');
    assert.equal(p.chosen('ann'), 'online', 'offline is not a status one chooses');
  });

  it('ranks online, busy, away, then anything else', () => {
    assert.deepEqual(['x', 'away', 'online', 'busy', 'offline'].sort((a, b) => presenceRank(a) - presenceRank(b)), [
      'online',
      'busy',
      'away',
      'x',
      'offline',
    ]);
  });
});

describe('Profiles', () => {
  it('keeps a known name when none is given, and only the server’s own avatar paths', () => {
    const p = new Profiles();
    assert.equal(p.displayName('ann'), '');
    assert.equal(p.set('ann', { displayName: 'Ann', avatarUrl: '/api/files/a.png' }), true);
    assert.equal(p.set('ann', { displayName: 'Ann', avatarUrl: '/api/files/a.png' }), false);
    assert.equal(p.set('ann', { avatarUrl: 'https://elsewhere.example/a.png' }), true);
    assert.equal(p.displayName('ann'), 'Ann');
    assert.equal(p.avatarUrl('ann'), '');
  });
});
