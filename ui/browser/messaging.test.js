// Browser tests of sending and reading: the real all-in-one server, Debian's
// Chromium. One server for the file, fresh users and rooms per test.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  WAIT_MS,
  countTexts,
  createRoom,
  joinRoom,
  messageEl,
  messages,
  openPair,
  openUser,
  randomId,
  screenshot,
  send,
  until,
  waitForTexts,
  waitState,
  withScreenshots,
  closeUsers,
  suiteSystem,
} from './harness.js';

// Records every data-state a message element (by clientId) goes through, so a
// state that lasts only milliseconds (SENDING on a fast server) is seen too.
const RECORD_MESSAGE_STATES = () => {
  window.__messageStates = {};
  const record = (el) => {
    if (!(el instanceof Element)) return;
    const nodes = el.matches('[data-testid=message]') ? [el] : el.querySelectorAll('[data-testid=message]');
    for (const n of nodes) {
      const id = n.dataset.clientId;
      if (!id) continue;
      const seen = (window.__messageStates[id] ??= []);
      if (seen.at(-1) !== n.dataset.state) seen.push(n.dataset.state);
    }
  };
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'attributes') record(r.target);
      else r.addedNodes.forEach(record);
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
};

const TEST_TIMEOUT = 90000;

describe('messaging', () => {
  const sys = suiteSystem();
  const contexts = [];

  async function user(options) {
    const u = await openUser(sys.browser, sys.server, options);
    contexts.push(u.context);
    return u;
  }

  async function pair(roomName) {
    const p = await openPair(sys.browser, sys.server, roomName);
    contexts.push(p.alice.context, p.bob.context);
    return p;
  }

  test('1. a sent message shows SENDING, then SENT once confirmed', { timeout: TEST_TIMEOUT }, async () => {
    const context = await sys.browser.newContext({ baseURL: sys.server.baseURL, viewport: { width: 1280, height: 800 } });
    await context.addInitScript(RECORD_MESSAGE_STATES);
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    try {
      await withScreenshots('send-confirmed', async (keep) => {
        keep(page);
        // Create the account and the room through the app itself.
        await page.goto('/');
        await page.getByTestId('auth-screen').waitFor();
        await page.getByTestId('auth-tab-register').click();
        const username = `sender-${randomId()}`;
        await page.getByTestId('auth-username').fill(username);
        await page.getByTestId('auth-display-name').fill('Sam Sender');
        await page.getByTestId('auth-password').fill('correct horse battery');
        await page.getByTestId('auth-submit').click();
        await waitState(page, 'CONNECTED');
        assert.equal(await page.getByTestId('auth-screen').isVisible(), false);

        const roomName = `Confirm ${randomId()}`;
        await page.getByTestId('new-room').click();
        await page.getByTestId('room-name').fill(roomName);
        await page.getByTestId('create-room-submit').click();
        const roomId = roomName.toLowerCase().replace(/[^a-z0-9]+/g, '-');
        await page.locator(`[data-testid=room-item][data-room="${roomId}"][data-state=joined][aria-current=page]`).waitFor({ timeout: WAIT_MS });
        assert.equal(await page.getByTestId('room-title').textContent(), `#${roomName}`);

        const text = 'Hello, is this thing on?';
        await page.getByTestId('composer-input').fill(text);
        await page.getByTestId('send-button').click();
        const el = messageEl(page, text);
        await el.and(page.locator('[data-state=SENT]')).waitFor({ timeout: WAIT_MS });

        const [shown] = await messages(page);
        assert.equal(shown.text, text);
        assert.equal(shown.user, username);
        assert.match(shown.id, /^\d+$/, 'a confirmed message carries its fact id');
        assert.match(shown.clientId, /^[0-9a-f-]{36}$/);
        assert.equal(await el.getByTestId('message-status').getAttribute('title'), 'Sent');
        const states = await page.evaluate((id) => window.__messageStates[id], shown.clientId);
        assert.deepEqual(states, ['SENDING', 'SENT'], 'the element went SENDING -> SENT');
        assert.equal(await page.getByTestId('composer-input').inputValue(), '', 'the composer is emptied');
        assert.equal(await page.locator('[data-testid=message]').count(), 1);
      });
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('2. two users in one room see each other’s messages', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    await withScreenshots('two-users', async (keep) => {
      let room;
      ({ alice, bob, room } = await pair('Lobby'));
      keep(alice.page);
      keep(bob.page, 'bob');

      await send(alice.page, 'Hi Bob, how are you?');
      await waitForTexts(bob.page, ['Hi Bob, how are you?']);
      await send(bob.page, 'Great, thanks Alice!');
      await send(alice.page, 'Glad to hear it.');
      for (const page of [alice.page, bob.page]) await waitForTexts(page, ['Great, thanks Alice!', 'Glad to hear it.']);

      const expected = [
        ['Hi Bob, how are you?', alice.username],
        ['Great, thanks Alice!', bob.username],
        ['Glad to hear it.', alice.username],
      ];
      for (const page of [alice.page, bob.page]) {
        await until(async () => (await messages(page)).every((m) => m.state === 'SENT'), { message: 'every message SENT' });
        const shown = (await messages(page)).map((m) => [m.text, m.user]);
        assert.deepEqual(shown, expected);
      }
      // Bob's copy of Alice's message is not his own: no delivery status on it.
      assert.equal(await messageEl(bob.page, 'Glad to hear it.').getByTestId('message-status').count(), 0);
      assert.equal(await messageEl(alice.page, 'Glad to hear it.').getByTestId('message-status').getAttribute('title'), 'Sent');
      // Each shows as an online member of the room, by display name, on both
      // screens: Bob joined after Alice had loaded the member list.
      for (const page of [alice.page, bob.page]) {
        for (const [who, name] of [
          [alice, 'Alice'],
          [bob, 'Bob'],
        ]) {
          await page
            .locator(`[data-testid=member][data-user="${who.username}"][data-status=online]`, { hasText: name })
            .waitFor({ timeout: WAIT_MS });
        }
      }
      await alice.page.getByTestId('system-message').filter({ hasText: 'Bob joined the room' }).waitFor({ timeout: WAIT_MS });
      assert.match(await alice.page.locator('#room-sub').textContent(), /^2 members · 2 online/);
    });
    await closeUsers(alice, bob);
  });

  test('5. a rejected message shows FAILED, and Retry delivers it once', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    await withScreenshots('rejected-retry', async (keep) => {
      let room;
      ({ alice, bob, room } = await pair('Fast'));
      keep(alice.page);
      keep(bob.page, 'bob');

      // The limit is 10 accepted messages per user per 10 s: the 11th is refused.
      const texts = Array.from({ length: 11 }, (_, i) => `burst ${i + 1}`);
      for (const text of texts) await send(alice.page, text);
      const failed = messageEl(alice.page, 'burst 11');
      await failed.and(alice.page.locator('[data-state=FAILED]')).waitFor({ timeout: WAIT_MS });
      await waitForTexts(bob.page, texts.slice(0, 10));
      const reason = failed.getByTestId('failure-reason');
      assert.match(await reason.textContent(), /Sending too fast/);
      const retry = failed.getByTestId('retry-button');
      await until(async () => alice.page.locator('[data-testid=message][data-state=SENT]').count().then((n) => n === 10), {
        message: 'the first ten SENT',
      });
      assert.equal(await alice.page.locator('[data-testid=message][data-state=FAILED]').count(), 1, 'only the 11th failed');
      if (await retry.isDisabled()) {
        assert.match(await reason.textContent(), /Retry in \d+s/, 'a countdown while the limit holds');
        await screenshot(alice.page, 'rejected-retry-failed');
      }

      // The button comes back once retryAfterMs has passed.
      await until(() => retry.isEnabled(), { timeout: 15000, message: 'Retry enabled after retryAfterMs' });
      await retry.click();
      await failed.and(alice.page.locator('[data-state=SENT]')).waitFor({ timeout: WAIT_MS });
      await waitForTexts(bob.page, ['burst 11']);

      // A later message orders after it, so by the time it shows, a duplicate would too.
      await send(bob.page, 'slow down!');
      await waitForTexts(alice.page, ['slow down!']);
      await waitForTexts(bob.page, ['slow down!']);
      for (const page of [alice.page, bob.page]) {
        const counts = await countTexts(page, [...texts, 'slow down!']);
        assert.ok(Object.values(counts).every((n) => n === 1), `each once: ${JSON.stringify(counts)}`);
        assert.deepEqual(
          (await messages(page)).map((m) => m.text),
          [...texts, 'slow down!'],
        );
      }
      assert.equal(await alice.page.locator('[data-testid=message][data-state=FAILED]').count(), 0);
    });
    await closeUsers(alice, bob);
  });

  test('7. two rooms at once: messages land in their room, unread counts the other', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    await withScreenshots('two-rooms', async (keep) => {
      alice = await user({ name: 'alice' });
      bob = await user({ name: 'bob' });
      keep(alice.page);
      keep(bob.page, 'bob');
      const garden = await createRoom(bob, `Garden ${randomId()}`);
      const kitchen = await createRoom(bob, `Kitchen ${randomId()}`);
      await joinRoom(bob.page, garden.id);
      await joinRoom(bob.page, kitchen.id);
      await joinRoom(alice.page, garden.id);
      await joinRoom(alice.page, kitchen.id); // on screen: kitchen
      const badge = (page, id) => page.locator(`[data-testid=room-item][data-room="${id}"] [data-testid=unread-badge]`);

      // Bob writes in the garden (on Bob's screen: the kitchen, so select it first).
      await bob.page.locator(`[data-testid=room-item][data-room="${garden.id}"]`).click();
      await send(bob.page, 'Tomatoes are ripe');
      await send(bob.page, 'Bring a basket');
      await waitForTexts(bob.page, ['Tomatoes are ripe', 'Bring a basket']);
      await bob.page.locator(`[data-testid=room-item][data-room="${kitchen.id}"]`).click();
      await send(bob.page, 'Soup is on');
      await waitForTexts(alice.page, ['Soup is on']);

      await until(async () => (await badge(alice.page, garden.id).textContent().catch(() => '')) === '2', {
        message: 'garden unread badge 2',
      });
      assert.equal(await badge(alice.page, kitchen.id).count(), 0, 'no badge on the room on screen');
      assert.deepEqual((await messages(alice.page)).map((m) => m.text), ['Soup is on']);
      await screenshot(alice.page, 'two-rooms-unread');

      // The other room holds its own messages, and reading it clears the badge.
      await alice.page.locator(`[data-testid=room-item][data-room="${garden.id}"]`).click();
      await waitForTexts(alice.page, ['Tomatoes are ripe', 'Bring a basket']);
      assert.deepEqual((await messages(alice.page)).map((m) => m.text), ['Tomatoes are ripe', 'Bring a basket']);
      await until(async () => (await badge(alice.page, garden.id).count()) === 0, { message: 'garden badge cleared' });

      // Alice answers in the garden: it lands there for Bob, who is looking at the kitchen.
      await send(alice.page, 'On my way');
      await until(async () => (await badge(bob.page, garden.id).textContent().catch(() => '')) === '1', {
        message: 'Bob’s garden badge 1',
      });
      assert.deepEqual((await messages(bob.page)).map((m) => m.text), ['Soup is on']);
      await bob.page.locator(`[data-testid=room-item][data-room="${garden.id}"]`).click();
      await waitForTexts(bob.page, ['On my way']);
      assert.deepEqual((await messages(bob.page)).map((m) => m.text), ['Tomatoes are ripe', 'Bring a basket', 'On my way']);
    });
    await closeUsers(alice, bob);
  });

  test('9. HTML and script payloads render as text', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let mallory;
    const evil = '<img src=x onerror=window.__xss=1>';
    await withScreenshots('xss-as-text', async (keep) => {
      alice = await user({ name: 'alice' });
      mallory = await user({ name: 'mallory', displayName: `Mal ${evil}` });
      keep(alice.page);
      keep(mallory.page, 'mallory');
      const room = await createRoom(mallory, `${evil} ${randomId()}`);
      await joinRoom(mallory.page, room.id);
      await joinRoom(alice.page, room.id);

      const payloads = [
        evil,
        '<script>window.__xss=1</script>',
        '"><svg onload="window.__xss=1"></svg>',
        '<a href="javascript:window.__xss=1">click me</a>',
        '<b>not bold</b> &amp; &lt;not an entity&gt;',
      ];
      for (const p of payloads) await send(mallory.page, p);
      for (const page of [alice.page, mallory.page]) {
        await waitForTexts(page, payloads);
        assert.deepEqual((await messages(page)).map((m) => m.text), payloads, 'shown literally, in order');
        const injected = await page.evaluate(() => ({
          xss: window.__xss,
          elements: document.querySelectorAll(
            '[data-testid=message-list] img, [data-testid=message-list] script, [data-testid=message-list] a, [data-testid=message-list] b, .room-list img, #members img, #room-title *',
          ).length,
          textChildren: [...document.querySelectorAll('[data-testid=message-text]')].map((p) => p.children.length),
        }));
        assert.equal(injected.xss, undefined, 'no payload ran');
        assert.equal(injected.elements, 0, 'no element was made from a payload');
        assert.ok(injected.textChildren.every((n) => n === 0), 'message texts are text nodes only');
      }
      // The display name and the room name carrying markup show literally too.
      await messageEl(alice.page, evil).locator('.author', { hasText: `Mal ${evil}` }).waitFor({ timeout: WAIT_MS });
      assert.equal(await alice.page.getByTestId('room-title').textContent(), `#${room.name}`);
      assert.ok(room.name.includes(evil));
      await alice.page.locator(`[data-testid=room-item][data-room="${room.id}"] .room-name`, { hasText: evil }).waitFor();
    });
    await closeUsers(alice, mallory);
  });
});
