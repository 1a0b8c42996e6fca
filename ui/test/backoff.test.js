import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Backoff, BACKOFF_DEFAULTS, backoffDelay } from '../js/backoff.js';

const noJitter = () => 0;
const maxJitter = () => 0.999999;

describe('backoffDelay', () => {
  it('doubles from one second without jitter', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((a) => backoffDelay(a, noJitter)),
      [1000, 2000, 4000, 8000, 16000],
    );
  });

  it('adds jitter in [0, 1000)', () => {
    assert.equal(backoffDelay(0, () => 0.5), 1500);
    assert.equal(backoffDelay(2, maxJitter), 4999);
  });

  it('stays within [base*2^n, base*2^n + 1000) for any random value', () => {
    for (let attempt = 0; attempt < 4; attempt++) {
      for (const r of [0, 0.1, 0.5, 0.9, 0.999999]) {
        const d = backoffDelay(attempt, () => r);
        assert.ok(d >= 1000 * 2 ** attempt && d < 1000 * 2 ** attempt + 1000, `attempt ${attempt} r ${r}: ${d}`);
      }
    }
  });

  it('caps at 30 s after the jitter is added', () => {
    // 16000 + 999 is under the cap; 32000 + anything is over it.
    assert.equal(backoffDelay(4, maxJitter), 16999);
    assert.equal(backoffDelay(5, noJitter), 30000);
    assert.equal(backoffDelay(5, maxJitter), 30000);
    assert.equal(backoffDelay(9, maxJitter), 30000);
    // With a smaller cap, base + jitter that crosses it is cut to the cap, not cap + jitter.
    assert.equal(backoffDelay(0, () => 0.9, { capMs: 1500 }), 1500);
  });
});

describe('Backoff', () => {
  it('hands out at most maxAttempts delays, then null', () => {
    const b = new Backoff({ random: noJitter });
    const delays = [];
    for (let d = b.next(); d !== null; d = b.next()) delays.push(d);
    assert.equal(delays.length, BACKOFF_DEFAULTS.maxAttempts);
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000]);
    assert.equal(b.next(), null);
    assert.equal(b.attempt, 10);
  });

  it('starts over after reset', () => {
    const b = new Backoff({ random: noJitter, maxAttempts: 2 });
    assert.equal(b.next(), 1000);
    assert.equal(b.next(), 2000);
    assert.equal(b.next(), null);
    b.reset();
    assert.equal(b.attempt, 0);
    assert.equal(b.next(), 1000);
  });

  it('never exceeds the cap with real randomness', () => {
    const b = new Backoff();
    for (let d = b.next(); d !== null; d = b.next()) assert.ok(d >= 1000 && d <= 30000, String(d));
  });
});
