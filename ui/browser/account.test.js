// Browser tests of what belongs to the account rather than the browser: the
// user's rooms (their list and order) and how far each is read, the same in
// every tab and on every device, and kept in step live.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WAIT_MS, createRoom, joinRoom, messages, openUser, randomId, until, waitForTexts, waitState, withScreenshots, closeUsers, suiteSystem } from './harness.js';

const TEST_TIMEOUT = 120000;
const PASSWORD = 'correct horse battery'; // openUser's

/** The ids of the user's rooms in the sidebar, in order. */
function yourRooms(page) {
  return page.locator('[data-testid=room-item]').evaluateAll((els) => els.map((el) => el.dataset.room));
}

/** The ids of the rooms in the Discover list (not searching). */
function discoverRooms(page) {
  return page.locator('[data-testid=discover-room]').evaluateAll((els) => els.map((el) => el.dataset.room));
}

async function untilRooms(page, want, what) {
  await until(async () => JSON.stringify(await yourRooms(page)) === JSON.stringify(want), { message: `${what}: your rooms ${want.join(', ')}` });
}

/** The text of a room's badge in the sidebar ('' when there is none). */
async function badge(page, room, testid = 'unread-badge') {
  const el = page.locator(`[data-testid=room-item][data-room="${room}"] [data-testid=${testid}]`);
  return (await el.count()) === 0 ? '' : el.textContent();
}

/** The app for an existing user on a new device: a fresh browser context that logs in. */
async function newDevice(browser, server, username) {
  const context = await browser.newContext({ baseURL: server.baseURL, viewport: { width: 1280, height: 800 } });
  const res = await context.request.post('/api/auth/login', { data: { username, password: PASSWORD } });
  if (res.status() !== 200) throw new Error(`login ${username}: ${res.status()} ${await res.text()}`);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err));
  await page.goto('/');
  await waitState(page, 'CONNECTED');
  return { username, context, page, errors };
}

/** Another tab of a user's browser (same cookies and storage). */
async function newTab(user) {
  const page = await user.context.newPage();
  page.on('pageerror', (err) => user.errors.push(err));
  await page.goto('/');
  await waitState(page, 'CONNECTED');
  return page;
}

/**
 * Posts texts into a room over a socket of the page's session, each
 * confirmed before the next (at most 50: a socket's frame burst).
 */
function seed(page, room, texts) {
  return page.evaluate(
    async ({ room, texts }) => {
      const ws = new WebSocket(`ws://${location.host}/ws`);
      let waiting = null;
      const next = (match) =>
        new Promise((ok, fail) => {
          const timer = setTimeout(() => fail(new Error('seed: no answer')), 10000);
          waiting = { match, ok: (f) => (clearTimeout(timer), ok(f)), fail };
        });
      ws.onmessage = (e) => {
        const frame = JSON.parse(e.data);
        if (waiting?.match(frame)) waiting.ok(frame);
      };
      ws.onclose = (e) => waiting?.fail(new Error(`seed: socket closed ${e.code}`));
      const joined = next((f) => f.type === 'reply' && f.ref === 'join');
      await new Promise((ok) => (ws.onopen = ok));
      ws.send(JSON.stringify({ type: 'room:join', ref: 'join', data: { room } }));
      await joined;
      for (const text of texts) {
        const clientId = crypto.randomUUID();
        const answer = next((f) => (f.type === 'event' && f.data.data?.clientId === clientId) || (f.type === 'rejected' && f.data.clientId === clientId));
        ws.send(JSON.stringify({ type: 'message:send', data: { room, clientId, text } }));
        if ((await answer).type === 'rejected') throw new Error(`seed: ${text} rejected`);
      }
      waiting = null;
      ws.close(1000);
    },
    { room, texts },
  );
}

describe('account', () => {
  // Seeding posts more than the default 10 messages per 10 s.
  const sys = suiteSystem({ env: { CHILLIN_RATE_LIMIT: '1000' } });

  test('your rooms are the account’s: the same list in every tab and on every device, live', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    let device;
    await withScreenshots('account-rooms', async (keep) => {
      alice = await openUser(sys.browser, sys.server, { name: 'alice' });
      bob = await openUser(sys.browser, sys.server, { name: 'bob' });
      keep(alice.page);

      // A room created through the API is the creator's at once, without a reload.
      const desk = await createRoom(alice, `Desk ${randomId()}`);
      await untilRooms(alice.page, [desk.id], 'created through the API');
      const porch = await createRoom(bob, `Porch ${randomId()}`);

      // A second tab and a new device list the same rooms, none under Discover.
      const tab = await newTab(alice);
      keep(tab, 'tab');
      device = await newDevice(sys.browser, sys.server, alice.username);
      keep(device.page, 'device');
      for (const page of [tab, device.page]) {
        await untilRooms(page, [desk.id], 'another tab or device');
        await until(async () => (await discoverRooms(page)).includes(porch.id), { message: 'Bob’s room under Discover' });
        assert.ok(!(await discoverRooms(page)).includes(desk.id), 'the own room is not under Discover');
      }

      // Joined in one tab: in the others at once, after the rooms joined before, without a badge.
      await joinRoom(alice.page, porch.id);
      for (const page of [tab, device.page]) {
        await untilRooms(page, [desk.id, porch.id], 'joined in another tab');
        await until(async () => !(await discoverRooms(page)).includes(porch.id), { message: 'no longer under Discover' });
        await page.locator(`[data-testid=room-item][data-room="${porch.id}"][data-state=joined]`).waitFor({ timeout: WAIT_MS });
        assert.equal(await badge(page, porch.id), '', 'no unread badge for a room just joined');
      }

      // Left on the device: gone from both tabs, back under Discover.
      await device.page.locator(`[data-testid=room-item][data-room="${porch.id}"]`).click();
      device.page.once('dialog', (d) => d.accept());
      await device.page.getByTestId('leave-room').click();
      for (const page of [alice.page, tab]) {
        await untilRooms(page, [desk.id], 'left on another device');
        await until(async () => (await discoverRooms(page)).includes(porch.id), { message: 'back under Discover' });
      }

      // After a reload: what the server says.
      await tab.reload();
      await waitState(tab, 'CONNECTED');
      await untilRooms(tab, [desk.id], 'after a reload');
    });
    await closeUsers(alice, bob, device);
  });

  test('a room loaded from history shows the same created, joined and left lines as live, once each', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    let carol;
    await withScreenshots('account-history-lines', async (keep) => {
      alice = await openUser(sys.browser, sys.server, { name: 'alice' });
      bob = await openUser(sys.browser, sys.server, { name: 'bob' });
      carol = await openUser(sys.browser, sys.server, { name: 'carol' });
      keep(alice.page);
      const annals = await createRoom(alice, `Annals ${randomId()}`);
      await joinRoom(alice.page, annals.id);
      await joinRoom(bob.page, annals.id);
      await joinRoom(carol.page, annals.id);
      carol.page.once('dialog', (d) => d.accept());
      await carol.page.getByTestId('leave-room').click();
      // Carol, no longer a member, may show by her username.
      const lines = async () =>
        (await alice.page.getByTestId('system-message').evaluateAll((els) => els.map((el) => el.querySelector('.system-text').textContent.trim()))).map((l) =>
          l.replace(carol.username, 'Carol'),
        );
      const want = ['Alice created the room', 'Bob joined the room', 'Carol joined the room', 'Carol left the room'];
      const same = async () => JSON.stringify(await lines()) === JSON.stringify(want);
      await until(same, { message: 'the live lines' });

      // 50 messages: a join replays the newest 50 facts, which are all
      // messages now; the lines come from the history page alone.
      const texts = Array.from({ length: 50 }, (_, i) => `h${i + 1}`);
      await seed(bob.page, annals.id, texts);
      await waitForTexts(alice.page, texts);
      await alice.page.reload();
      await waitState(alice.page, 'CONNECTED');
      await alice.page.locator(`[data-testid=room-item][data-room="${annals.id}"]`).click();
      await waitForTexts(alice.page, texts);
      await until(same, { message: 'the same lines after a reload' }).catch(async (err) => {
        throw new Error(`${err.message}: ${JSON.stringify(await lines())}`);
      });
      // In seq order: the lines above the first message.
      const order = await alice.page
        .locator('[data-testid=system-message], [data-testid=message]')
        .evaluateAll((els) => els.map((el) => (el.dataset.testid === 'message' ? 'message' : 'line')));
      assert.deepEqual(order, [...want.map(() => 'line'), ...texts.map(() => 'message')]);
      assert.equal((await messages(alice.page)).length, 50, 'each message once');
    });
    await closeUsers(alice, bob, carol);
  });

  test('read state is the account’s: counts from the server, cleared everywhere on reading, a divider at the first unread', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    let device;
    await withScreenshots('account-read', async (keep) => {
      alice = await openUser(sys.browser, sys.server, { name: 'alice' });
      bob = await openUser(sys.browser, sys.server, { name: 'bob' });
      keep(alice.page);
      const desk = await createRoom(alice, `Desk ${randomId()}`);
      const porch = await createRoom(bob, `Porch ${randomId()}`);
      await untilRooms(alice.page, [desk.id], 'the own room');
      await joinRoom(alice.page, porch.id);
      await alice.page.locator(`[data-testid=room-item][data-room="${desk.id}"]`).click(); // looking elsewhere

      // 60 messages while Alice looks at her desk: more than the newest page of 50.
      const texts = Array.from({ length: 60 }, (_, i) => (i === 30 ? `m${i + 1} ping @${alice.username}` : `m${i + 1}`));
      await seed(bob.page, porch.id, texts.slice(0, 40));
      await seed(bob.page, porch.id, texts.slice(40));
      await until(async () => (await badge(alice.page, porch.id)) === '60', { message: 'live unread badge 60' });
      assert.equal(await badge(alice.page, porch.id, 'mention-badge'), '@1');

      // A new device has the same counts, from the server.
      device = await newDevice(sys.browser, sys.server, alice.username);
      keep(device.page, 'device');
      await untilRooms(device.page, [desk.id, porch.id], 'the device');
      await until(async () => (await badge(device.page, porch.id)) === '60', { message: 'unread 60 on the new device' });
      assert.equal(await badge(device.page, porch.id, 'mention-badge'), '@1');

      // Reading on the device clears the badges in the other browser.
      await device.page.locator(`[data-testid=room-item][data-room="${porch.id}"]`).click();
      await until(async () => (await badge(alice.page, porch.id)) === '' && (await badge(alice.page, porch.id, 'mention-badge')) === '', {
        message: 'badges cleared in the other browser',
      });
      assert.equal(await badge(device.page, porch.id), '');

      // The first unread message is older than the newest page: the jump pages back to it.
      const jump = device.page.getByTestId('jump-to-unread');
      await jump.waitFor({ state: 'visible', timeout: WAIT_MS });
      await jump.click();
      const divider = device.page.getByTestId('unread-divider');
      await divider.waitFor({ state: 'visible', timeout: WAIT_MS });
      const next = await divider.evaluate((el) => el.nextElementSibling?.querySelector('[data-testid=message-text]')?.textContent ?? '');
      assert.equal(next, 'm1', 'the divider is right above the first unread message');
      assert.equal(await device.page.getByTestId('unread-divider').count(), 1);
      assert.ok((await messages(device.page)).some((m) => m.text === 'm1'));
      await until(() => jump.isHidden(), { message: 'the jump gone once the divider is in view' });

      // Read stays read: after a reload nothing is unread, and no divider shows.
      await alice.page.reload();
      await waitState(alice.page, 'CONNECTED');
      await untilRooms(alice.page, [desk.id, porch.id], 'after a reload');
      assert.equal(await badge(alice.page, porch.id), '');
    });
    await closeUsers(alice, bob, device);
  });
});
