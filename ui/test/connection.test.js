import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';

import { CLOSE_UNAUTHORIZED, Connection, EVENTS, State, transition } from '../js/connection.js';
import { FakeClock, fakeWebSocketClass } from './fakes.js';

const { DISCONNECTED, CONNECTING, CONNECTED, RECONNECTING, FAILED } = State;

describe('transition', () => {
  // Every (state, event) pair; null means the event is ignored in that state.
  const expected = {
    DISCONNECTED: { connect: CONNECTING, open: null, lost: null, exhausted: null, offline: null, unauthorized: null, stop: null },
    CONNECTING: { connect: null, open: CONNECTED, lost: RECONNECTING, exhausted: null, offline: RECONNECTING, unauthorized: DISCONNECTED, stop: DISCONNECTED },
    CONNECTED: { connect: null, open: null, lost: RECONNECTING, exhausted: null, offline: RECONNECTING, unauthorized: DISCONNECTED, stop: DISCONNECTED },
    RECONNECTING: { connect: RECONNECTING, open: CONNECTED, lost: RECONNECTING, exhausted: FAILED, offline: RECONNECTING, unauthorized: DISCONNECTED, stop: DISCONNECTED },
    FAILED: { connect: CONNECTING, open: null, lost: null, exhausted: null, offline: null, unauthorized: null, stop: DISCONNECTED },
  };

  it('covers every state and event', () => {
    assert.deepEqual(Object.keys(expected).sort(), Object.values(State).sort());
    for (const row of Object.values(expected)) assert.deepEqual(Object.keys(row).sort(), [...EVENTS].sort());
  });

  for (const [state, row] of Object.entries(expected)) {
    for (const [event, next] of Object.entries(row)) {
      it(`${state} --${event}--> ${next ?? '(ignored)'}`, () => {
        assert.equal(transition(state, event), next);
      });
    }
  }

  it('rejects unknown states and events', () => {
    assert.equal(transition('NOPE', 'connect'), null);
    assert.equal(transition(CONNECTED, 'nope'), null);
  });
});

describe('Connection', () => {
  let clock;
  let WS;
  let conn;
  let states;
  let frames;

  function make(options = {}) {
    conn = new Connection({ url: 'ws://chat.test/ws', WebSocket: WS, timers: clock.timers, now: () => clock.now, random: () => 0, ...options });
    states = [];
    frames = [];
    conn.on('state', (s) => states.push(s));
    conn.on('frame', (f) => frames.push(f));
    return conn;
  }

  beforeEach(() => {
    clock = new FakeClock();
    WS = fakeWebSocketClass();
    make();
  });

  it('connects: DISCONNECTED -> CONNECTING -> CONNECTED', () => {
    conn.connect();
    assert.equal(conn.state, CONNECTING);
    assert.equal(WS.instances.length, 1);
    assert.equal(WS.last.url, 'ws://chat.test/ws');
    WS.last.open();
    assert.equal(conn.state, CONNECTED);
    assert.deepEqual(states.map((s) => [s.previous, s.state]), [
      [DISCONNECTED, CONNECTING],
      [CONNECTING, CONNECTED],
    ]);
  });

  it('ignores connect() while connecting or connected', () => {
    conn.connect();
    conn.connect();
    WS.last.open();
    conn.connect();
    assert.equal(WS.instances.length, 1);
    assert.equal(conn.state, CONNECTED);
  });

  it('reconnects with backoff after losing the socket', () => {
    conn.connect();
    WS.last.open();
    WS.last.serverClose(1006);
    assert.equal(conn.state, RECONNECTING);
    assert.equal(states.at(-1).delayMs, 1000);
    assert.equal(states.at(-1).attempt, 1);
    clock.advance(999);
    assert.equal(WS.instances.length, 1);
    clock.advance(1);
    assert.equal(WS.instances.length, 2);
    WS.last.serverClose(1006);
    assert.equal(states.at(-1).delayMs, 2000);
    clock.advance(2000);
    WS.last.open();
    assert.equal(conn.state, CONNECTED);
    assert.equal(conn.attempt, 0, 'a successful open resets the attempts');
  });

  it('goes FAILED after 10 failed attempts, and a manual retry starts over', () => {
    conn.connect();
    WS.last.serverClose(1006); // the first connection fails
    const delays = [];
    for (let i = 0; i < 10; i++) {
      delays.push(states.at(-1).delayMs);
      clock.advance(states.at(-1).delayMs);
      WS.last.serverClose(1006);
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000]);
    assert.equal(WS.instances.length, 11);
    assert.equal(conn.state, FAILED);
    assert.equal(clock.pending, 0, 'nothing more is scheduled');
    clock.advance(120000);
    assert.equal(WS.instances.length, 11);

    conn.connect();
    assert.equal(conn.state, CONNECTING);
    assert.equal(WS.instances.length, 12);
    WS.last.serverClose(1006);
    assert.equal(conn.state, RECONNECTING);
    assert.equal(states.at(-1).delayMs, 1000);
  });

  it('while waiting to reconnect, probes the server and reconnects as soon as it answers', async () => {
    let up = false;
    const probes = [];
    make({ probe: async () => (probes.push(clock.now), up), probeMs: 500 });
    conn.connect();
    WS.last.open();
    WS.last.serverClose(1006);
    WS.last.serverClose(1006); // not yet: the socket of the first connection
    clock.advance(1000);
    WS.last.serverClose(1006); // the first attempt fails: the next waits 2000 ms
    assert.equal(states.at(-1).delayMs, 2000);
    const before = WS.instances.length;
    clock.advance(500);
    await Promise.resolve();
    clock.advance(500);
    await Promise.resolve();
    assert.equal(WS.instances.length, before, 'no attempt while the probe says the server is down');
    up = true;
    clock.advance(500);
    await Promise.resolve();
    await Promise.resolve();
    assert.equal(WS.instances.length, before + 1, 'an attempt as soon as the server answers, 1500 ms early');
    assert.equal(conn.state, RECONNECTING);
    assert.equal(conn.attempt, 2, 'the early attempt is the one counted, not an extra one');
    assert.equal(clock.pending, 1, 'only the connect timeout is left: no probe or retry runs while connecting');
    WS.last.open();
    assert.equal(conn.state, CONNECTED);
    const probesBefore = probes.length;
    clock.advance(5000);
    assert.equal(probes.length, probesBefore, 'no probing while connected');
  });

  it('a probe answer arriving after the attempt started is ignored', async () => {
    let answer;
    make({ probe: () => new Promise((resolve) => (answer = resolve)), probeMs: 500 });
    conn.connect();
    WS.last.serverClose(1006); // waits 1000 ms
    clock.advance(500); // the probe is asked
    clock.advance(500); // the attempt starts anyway
    const count = WS.instances.length;
    answer(true);
    await Promise.resolve();
    await Promise.resolve();
    assert.equal(WS.instances.length, count, 'no second socket');
  });

  it('applies jitter to every delay', () => {
    make({ random: () => 0.5 });
    conn.connect();
    WS.last.serverClose(1006);
    assert.equal(states.at(-1).delayMs, 1500);
  });

  it('connect() while RECONNECTING retries at once', () => {
    conn.connect();
    WS.last.open();
    WS.last.serverClose(1001);
    assert.equal(WS.instances.length, 1);
    conn.connect();
    assert.equal(WS.instances.length, 2);
    assert.equal(conn.state, RECONNECTING);
    clock.advance(5000);
    assert.equal(WS.instances.length, 2, 'the scheduled retry was cancelled');
  });

  it('close code 4001 goes to DISCONNECTED and does not reconnect', () => {
    let unauthorized = 0;
    conn.on('unauthorized', () => unauthorized++);
    conn.connect();
    WS.last.open();
    WS.last.serverClose(CLOSE_UNAUTHORIZED);
    assert.equal(conn.state, DISCONNECTED);
    assert.equal(unauthorized, 1);
    clock.advance(60000);
    assert.equal(WS.instances.length, 1);
  });

  it('disconnect() closes the socket and stays down', () => {
    conn.connect();
    WS.last.open();
    conn.disconnect();
    assert.equal(conn.state, DISCONNECTED);
    assert.equal(WS.last.closed.code, 1000);
    WS.last.serverClose(1000); // a late close event from the old socket changes nothing
    clock.advance(60000);
    assert.equal(conn.state, DISCONNECTED);
    assert.equal(WS.instances.length, 1);
  });

  it('disconnect() cancels a scheduled retry', () => {
    conn.connect();
    WS.last.serverClose(1006);
    conn.disconnect();
    assert.equal(conn.state, DISCONNECTED);
    assert.equal(clock.pending, 0);
  });

  it('going offline drops the socket at once and waits; online reconnects at once', () => {
    conn.connect();
    WS.last.open();
    conn.setOnline(false);
    assert.equal(conn.state, RECONNECTING);
    assert.equal(WS.last.closed.code, 4000);
    clock.advance(600000);
    assert.equal(WS.instances.length, 1, 'no attempts while offline');
    conn.setOnline(true);
    assert.equal(WS.instances.length, 2);
    WS.last.open();
    assert.equal(conn.state, CONNECTED);
  });

  it('a failure while offline waits for the network instead of counting attempts', () => {
    conn.connect();
    conn.setOnline(false);
    conn.connect(); // manual retry while the browser says offline
    WS.last.serverClose(1006);
    assert.equal(conn.state, RECONNECTING);
    assert.equal(clock.pending, 0);
  });

  it('coming online from FAILED connects again', () => {
    make({ maxAttempts: 1 });
    conn.connect();
    WS.last.serverClose(1006);
    clock.advance(1000);
    WS.last.serverClose(1006);
    assert.equal(conn.state, FAILED);
    conn.setOnline(false);
    assert.equal(conn.state, FAILED);
    conn.setOnline(true);
    assert.equal(conn.state, CONNECTING);
  });

  it('gives up on a socket that does not open in time', () => {
    make({ connectTimeoutMs: 5000 });
    conn.connect();
    clock.advance(5000);
    assert.equal(WS.instances[0].closed.code, 4000);
    assert.equal(conn.state, RECONNECTING);
    WS.instances[0].open(); // too late: ignored
    assert.equal(conn.state, RECONNECTING);
  });

  it('sends frames only while connected', () => {
    conn.connect();
    assert.equal(conn.send({ type: 'x', data: {} }), false);
    WS.last.open();
    assert.equal(conn.send({ type: 'x', data: { a: 1 } }), true);
    assert.deepEqual(WS.last.sent, [{ type: 'x', data: { a: 1 } }]);
  });

  it('emits parsed frames and skips unreadable ones', () => {
    conn.connect();
    WS.last.open();
    WS.last.receive({ type: 'hello', data: { user: { username: 'ann' } } });
    WS.last.receive('not json');
    WS.last.receive({ nope: true });
    assert.deepEqual(frames, [{ type: 'hello', data: { user: { username: 'ann' } } }]);
  });

  it('matches replies to requests by ref', async () => {
    conn.connect();
    WS.last.open();
    const a = conn.request('room:join', { room: 'a' });
    const b = conn.request('room:join', { room: 'b' });
    const [fa, fb] = WS.last.sent;
    assert.notEqual(fa.ref, fb.ref);
    WS.last.receive({ type: 'reply', ref: fb.ref, data: { ok: false, error: { code: 'WRONG_PASSWORD', message: 'no' } } });
    WS.last.receive({ type: 'reply', ref: fa.ref, data: { ok: true, headSeq: 3 } });
    assert.deepEqual(await a, { ok: true, headSeq: 3 });
    await assert.rejects(b, { code: 'WRONG_PASSWORD' });
    assert.deepEqual(frames, [], 'consumed replies are not emitted as frames');
  });

  it('fails requests on timeout and on disconnect', async () => {
    conn.connect();
    WS.last.open();
    const slow = conn.request('room:sync', { room: 'a', after: 1 }, { timeoutMs: 100 });
    clock.advance(100);
    await assert.rejects(slow, { code: 'TIMEOUT' });
    const cut = conn.request('room:sync', { room: 'a', after: 1 });
    WS.last.serverClose(1006);
    await assert.rejects(cut, { code: 'DISCONNECTED' });
    await assert.rejects(conn.request('room:sync', {}), { code: 'DISCONNECTED' });
  });

  it('sends heartbeats and drops a silent connection', () => {
    make({ heartbeatMs: 1000 });
    conn.connect();
    WS.last.open();
    clock.advance(1000);
    assert.equal(WS.last.sentOf('heartbeat').length, 1);
    WS.last.receive({ type: 'heartbeat:ack', data: { t: 0 } });
    clock.advance(1000);
    clock.advance(1000);
    assert.equal(conn.state, CONNECTED);
    clock.advance(1000); // nothing heard for more than two intervals
    assert.equal(conn.state, RECONNECTING);
    assert.equal(WS.instances[0].closed.code, 4000);
  });
});
