// Browser tests of losing the server: a graceful restart, a crash with a
// message queued meanwhile, and every state of the connection indicator. The
// server of this file is stopped and started again on the same port and data
// folder, so its log of facts survives.

import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import {
  WAIT_MS,
  connState,
  countTexts,
  createRoom,
  joinRoom,
  messageEl,
  messages,
  openUser,
  randomId,
  screenshot,
  send,
  until,
  waitForTexts,
  waitState,
  withScreenshots,
  openPair,
  closeUsers,
  suiteSystem,
} from './harness.js';

// Reconnecting waits min(1000·2^attempt + jitter, 30000) ms: give it room.
const RECONNECT_MS = 40000;
const TEST_TIMEOUT = 120000;

// Records every state the connection indicator shows, in order, including
// the ones that last only a moment (DISCONNECTED before the first connect).
const RECORD_CONN_STATES = () => {
  window.__connStates = [];
  window.__connChanges = 0;
  const push = (state) => {
    if (state && window.__connStates.at(-1) !== state) window.__connStates.push(state);
  };
  new MutationObserver((records) => {
    let el = null;
    for (const r of records) {
      if (r.type !== 'attributes' || r.target.dataset.testid !== 'conn-status') continue;
      window.__connChanges += 1;
      push(r.oldValue);
      el = r.target;
    }
    if (el) push(el.dataset.state);
  }).observe(document, { subtree: true, attributes: true, attributeOldValue: true, attributeFilter: ['data-state'] });
};

/** Whether the element's (first) sprite icon has drawn anything: a <use> whose sprite could not be loaded is empty. */
function iconDrawn(locator) {
  return locator.evaluate((el) => {
    const use = el.querySelector('svg.icon use');
    return Boolean(use) && use.getBBox().width > 0;
  });
}

describe('recovery', () => {
  const sys = suiteSystem();

  // A test that failed half-way may have left the server down.
  beforeEach(async () => {
    if (!sys.server.running) await sys.server.start();
  });

  /** Two users with the app open in one room. */
  const pair = (roomName, { bobClock = false } = {}) => openPair(sys.browser, sys.server, roomName, { bob: { clock: bobClock } });

  async function assertEachOnce(pages, texts) {
    for (const page of pages) {
      const counts = await countTexts(page, texts);
      assert.ok(Object.values(counts).every((n) => n === 1), `each message once: ${JSON.stringify(counts)}`);
      assert.deepEqual((await messages(page)).map((m) => m.text), texts, 'in the order sent');
      assert.equal(await page.locator('[data-testid=message]:not([data-state=SENT])').count(), 0, 'all SENT');
    }
  }

  test('3. a gateway restart mid-conversation: both reconnect on their own, nothing is missed', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    await withScreenshots('gateway-restart', async (keep) => {
      // Bob's page runs on a clock the test can hold, so that he is provably
      // still reconnecting while Alice, already back, writes.
      ({ alice, bob } = await pair('Restart', { bobClock: true }));
      keep(alice.page);
      keep(bob.page, 'bob');
      await send(alice.page, 'before the restart (alice)');
      await waitForTexts(bob.page, ['before the restart (alice)']);
      await send(bob.page, 'before the restart (bob)');
      await waitForTexts(alice.page, ['before the restart (bob)']);

      await sys.server.stop(); // SIGTERM
      await waitState(alice.page, 'RECONNECTING');
      await waitState(bob.page, 'RECONNECTING');
      // Hold Bob's clock: his next attempt waits until it runs again.
      await bob.page.clock.pauseAt((await bob.page.evaluate(() => Date.now())) + 10);
      await sys.server.start(); // same port, same data

      await waitState(alice.page, 'CONNECTED', RECONNECT_MS);
      const during = ['while bob reconnects 1', 'while bob reconnects 2', 'while bob reconnects 3'];
      for (const text of during) await send(alice.page, text);
      for (const text of during) await messageEl(alice.page, text).and(alice.page.locator('[data-state=SENT]')).waitFor({ timeout: WAIT_MS });
      assert.equal(await connState(bob.page), 'RECONNECTING', 'Bob was still reconnecting');
      await screenshot(bob.page, 'gateway-restart-bob-reconnecting');

      // Bob's own timer fires once his clock runs again: he rejoins with `after`.
      await bob.page.clock.resume();
      await waitState(bob.page, 'CONNECTED', RECONNECT_MS);
      await waitForTexts(bob.page, during);
      await send(bob.page, 'back again (bob)');
      await waitForTexts(alice.page, ['back again (bob)']);
      await waitForTexts(bob.page, ['back again (bob)']);

      await assertEachOnce([alice.page, bob.page], [
        'before the restart (alice)',
        'before the restart (bob)',
        ...during,
        'back again (bob)',
      ]);
      assert.equal(await connState(alice.page), 'CONNECTED');
      assert.equal(await connState(bob.page), 'CONNECTED');
    });
    await closeUsers(alice, bob);
  });

  test('4. a message written while the server is down is queued, then delivered once', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    await withScreenshots('queued-while-down', async (keep) => {
      ({ alice, bob } = await pair('Outage'));
      keep(alice.page);
      keep(bob.page, 'bob');
      await send(alice.page, 'all good so far');
      await waitForTexts(bob.page, ['all good so far']);

      await sys.server.kill(); // SIGKILL: a crash
      await waitState(alice.page, 'RECONNECTING');
      await send(alice.page, 'written during the outage');
      const queued = messageEl(alice.page, 'written during the outage');
      await queued.and(alice.page.locator('[data-state=SENDING]')).waitFor({ timeout: WAIT_MS });
      assert.equal(await queued.getByTestId('message-status').getAttribute('title'), 'Sending');
      assert.ok(await iconDrawn(queued.getByTestId('message-status')), 'the SENDING clock icon is drawn while the server is down');
      const outbox = await alice.page.evaluate((u) => JSON.parse(localStorage.getItem(`chillin.outbox.${u}`) ?? '[]'), alice.username);
      assert.deepEqual(
        outbox.map((e) => e.text),
        ['written during the outage'],
        'kept in the outbox',
      );
      await screenshot(alice.page, 'queued-while-down-sending');
      assert.equal(await queued.getAttribute('data-state'), 'SENDING', 'still SENDING while the server is down');

      await sys.server.start();
      await waitState(alice.page, 'CONNECTED', RECONNECT_MS);
      await waitState(bob.page, 'CONNECTED', RECONNECT_MS);
      await queued.and(alice.page.locator('[data-state=SENT]')).waitFor({ timeout: WAIT_MS });
      await waitForTexts(bob.page, ['written during the outage']);
      // A later message orders after it: by the time it shows, a duplicate would too.
      await send(bob.page, 'got it');
      await waitForTexts(alice.page, ['got it']);
      await waitForTexts(bob.page, ['got it']);
      await assertEachOnce([alice.page, bob.page], ['all good so far', 'written during the outage', 'got it']);
      assert.equal(
        await alice.page.evaluate((u) => localStorage.getItem(`chillin.outbox.${u}`), alice.username),
        null,
        'the outbox is empty once confirmed',
      );
    });
    await closeUsers(alice, bob);
  });

  test('reconnects as soon as the server answers, not when the backoff ends; offline, dots grey and a banner counts what waits', { timeout: TEST_TIMEOUT }, async () => {
    let dave;
    await withScreenshots('reconnect-at-once', async (keep) => {
      // Dave's clock is held: only the time the test lets pass moves his
      // timers, so a reconnection before the pending attempt's delay can only
      // come from the health probe.
      dave = await openUser(sys.browser, sys.server, { name: 'dave', clock: true, initScripts: [RECORD_CONN_STATES] });
      keep(dave.page);
      const page = dave.page;
      const text = page.locator('#conn-text');
      const banner = page.getByTestId('offline-banner');
      const room = await createRoom(dave, `Probe ${randomId()}`);
      await joinRoom(page, room.id);
      // His own row turns online once his presence arrives; before that the
      // dot is already grey and the comparison below would prove nothing.
      const ownRow = page.locator(`[data-testid=member][data-user="${dave.username}"]`);
      await page.locator(`[data-testid=member][data-user="${dave.username}"].online`).waitFor({ timeout: WAIT_MS });
      const ownDot = ownRow.locator('.presence-dot');
      const dotColour = () => ownDot.evaluate((el) => getComputedStyle(el).backgroundColor);
      // Right after the row is drawn its style may not be computed yet ('').
      let onlineColour = '';
      await until(async () => (onlineColour = await dotColour()) !== '', { message: "the dot's colour" });
      assert.ok(await banner.isHidden(), 'no banner while connected');

      await sys.server.stop();
      await waitState(page, 'RECONNECTING');
      await page.clock.pauseAt((await page.evaluate(() => Date.now())) + 10);
      // Let attempts fail until the next one waits at least 8 s.
      const waitSeconds = async () => Number((/Reconnecting in (\d+)s/.exec(await text.textContent()) ?? [])[1] ?? 0);
      for (let i = 0; (await waitSeconds()) < 8; i++) {
        assert.ok(i < 6, 'a delay of 8 s within a few attempts');
        const changes = await page.evaluate(() => window.__connChanges);
        await page.clock.fastForward(31000);
        await until(async () => (await page.evaluate(() => window.__connChanges)) > changes, { timeout: 5000, message: 'the next attempt to fail' });
      }
      const waited = await waitSeconds();

      assert.equal(await page.getByTestId('chat-screen').getAttribute('data-link'), 'down');
      assert.notEqual(await dotColour(), onlineColour, 'the presence dot is grey while not connected');
      await banner.waitFor({ timeout: WAIT_MS });
      assert.match(await banner.textContent(), /Messages you write now will send/);
      await send(page, 'written while away');
      await send(page, 'and another');
      await until(async () => (await banner.getAttribute('data-waiting')) === '2', { message: 'the banner counting two messages' });
      assert.match(await banner.textContent(), /2 messages will send when the connection is back/);
      await screenshot(page, 'reconnect-at-once-offline');

      await sys.server.start();
      // Far less than the pending delay: the probe (every second) finds the server.
      await page.clock.runFor(1500);
      await waitState(page, 'CONNECTED');
      assert.ok(waited >= 8, `the attempt was ${waited} s away`);
      await page.clock.resume();
      await waitForTexts(page, ['written while away', 'and another']);
      await until(async () => (await messages(page)).filter((m) => m.state === 'SENT').length === 2, { message: 'both SENT' });
      assert.ok(await banner.isHidden(), 'the banner goes once connected');
      await until(async () => (await dotColour()) === onlineColour, { message: 'the dot coloured again' });
    });
    await closeUsers(dave);
  });

  test('6. the connection indicator shows every state', { timeout: TEST_TIMEOUT }, async () => {
    let carol;
    await withScreenshots('status-indicator', async (keep) => {
      // Carol's clock is controllable, so ten failed attempts (minutes of
      // backoff) can be fast-forwarded to reach FAILED.
      carol = await openUser(sys.browser, sys.server, { name: 'carol', clock: true, initScripts: [RECORD_CONN_STATES] });
      keep(carol.page);
      const status = carol.page.getByTestId('conn-status');
      const text = carol.page.locator('#conn-text');
      const retry = carol.page.getByTestId('conn-retry');
      const room = await createRoom(carol, `Status ${randomId()}`);
      await joinRoom(carol.page, room.id);
      const seen = () => carol.page.evaluate(() => window.__connStates);
      assert.deepEqual(await seen(), ['DISCONNECTED', 'CONNECTING', 'CONNECTED']);
      assert.equal(await text.textContent(), 'Connected');
      assert.ok(await retry.isHidden());

      await sys.server.stop();
      await waitState(carol.page, 'RECONNECTING');
      await until(async () => /^Reconnecting/.test(await text.textContent()), { message: 'Reconnecting text' });
      assert.equal(await retry.textContent(), 'Retry now');
      assert.ok(await retry.isVisible());
      await screenshot(carol.page, 'status-indicator-reconnecting');

      // Each fast-forward fires the pending attempt, which fails at once.
      for (let i = 0; (await connState(carol.page)) !== 'FAILED'; i++) {
        assert.ok(i < 15, 'FAILED after at most 10 attempts');
        const changes = await carol.page.evaluate(() => window.__connChanges);
        await carol.page.clock.fastForward(31000);
        await until(
          async () => (await carol.page.evaluate(() => window.__connChanges)) > changes,
          { timeout: 5000, message: 'the next attempt to fail' },
        );
      }
      assert.equal(await text.textContent(), 'Connection failed');
      assert.ok(await iconDrawn(carol.page.locator(`[data-testid=room-item][data-room="${room.id}"]`)), 'the room icon is drawn offline');
      assert.equal(await retry.textContent(), 'Retry');
      assert.ok(await retry.isVisible());
      await screenshot(carol.page, 'status-indicator-failed');

      // FAILED stays until the user asks: Retry connects again.
      await sys.server.start();
      await carol.page.clock.fastForward(60000);
      assert.equal(await connState(carol.page), 'FAILED', 'no attempt on its own after FAILED');
      await retry.click();
      await waitState(carol.page, 'CONNECTED');
      assert.equal(await text.textContent(), 'Connected');
      assert.ok(await retry.isHidden());
      await carol.page.locator(`[data-testid=room-item][data-room="${room.id}"][data-state=joined]`).waitFor({ timeout: WAIT_MS });
      await send(carol.page, 'still here');
      await messageEl(carol.page, 'still here').and(carol.page.locator('[data-state=SENT]')).waitFor({ timeout: WAIT_MS });
      assert.equal(await status.getAttribute('data-state'), 'CONNECTED');

      const states = await seen();
      assert.deepEqual(states, ['DISCONNECTED', 'CONNECTING', 'CONNECTED', 'RECONNECTING', 'FAILED', 'CONNECTING', 'CONNECTED']);
    });
    await closeUsers(carol);
  });
});
