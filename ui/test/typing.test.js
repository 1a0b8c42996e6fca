import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';

import { TypingNotifier } from '../js/typing.js';
import { FakeClock } from './fakes.js';

describe('TypingNotifier', () => {
  let clock;
  let sent;
  let typing;

  beforeEach(() => {
    clock = new FakeClock();
    sent = [];
    typing = new TypingNotifier({ send: (t) => sent.push(`${clock.now}:${t}`), timers: clock.timers, now: () => clock.now, throttleMs: 3000, idleMs: 5000 });
  });

  it('sends typing:start at most once per throttle interval', () => {
    for (let i = 0; i < 8; i++) {
      typing.input();
      clock.advance(500);
    }
    assert.deepEqual(sent, ['0:typing:start', '3000:typing:start']);
  });

  it('sends typing:stop after the idle time', () => {
    typing.input();
    clock.advance(4999);
    assert.deepEqual(sent, ['0:typing:start']);
    clock.advance(1);
    assert.deepEqual(sent, ['0:typing:start', '5000:typing:stop']);
  });

  it('stops once on send and not again on idle', () => {
    typing.input();
    typing.stop();
    typing.stop();
    clock.advance(10000);
    assert.deepEqual(sent, ['0:typing:start', '0:typing:stop']);
    typing.input();
    assert.equal(sent.at(-1), '10000:typing:start', 'starts afresh after a stop');
  });
});
