// Browser tests of lists longer than a page: the Discover list (the app asks
// GET /api/rooms for 50 rooms at a time) with more rooms than one page, found
// by scrolling, with the keyboard through "Show more rooms" and by search;
// and the member list of a room past its first 100 members.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WAIT_MS, closeUsers, createRoom, joinRoom, openUser, randomId, until, waitState, withScreenshots, suiteSystem } from './harness.js';

const ROOMS = 60; // more than the app's page of 50
const MEMBERS = 112; // more than the first page of 100

/** The ids of the rooms in the Discover list, top to bottom. */
function discoverIds(page) {
  return page.$$eval('[data-testid=discover-room]', (nodes) => nodes.map((n) => n.dataset.room));
}

/** GET path as the user, until check(body) holds (the lists are projections of the log). */
async function untilListed(user, path, check, message) {
  await until(
    async () => {
      const res = await user.context.request.get(path);
      return res.ok() && check(await res.json());
    },
    { timeout: 60000, message },
  );
}

/**
 * Registers n users and joins each to room, in a page of a context of its
 * own (the seeder's cookie jar changes user with each registration), each
 * join confirmed by its reply.
 */
async function seedMembers(browser, server, room, n) {
  const context = await browser.newContext({ baseURL: server.baseURL });
  try {
    const page = await context.newPage();
    await page.goto('/icon.svg'); // the app's origin, without the app
    return await page.evaluate(
      async ({ room, n, tag }) => {
        const users = [];
        for (let i = 0; i < n; i++) {
          const username = `m${String(i).padStart(3, '0')}-${tag}`;
          const res = await fetch('/api/auth/register', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ username, password: 'correct horse battery', displayName: `Member ${i}` }),
          });
          if (res.status !== 201) throw new Error(`register ${username}: ${res.status} ${await res.text()}`);
          const ws = new WebSocket(`ws://${location.host}/ws`);
          await new Promise((ok, fail) => {
            const timer = setTimeout(() => fail(new Error(`join ${username}: no reply`)), 10000);
            ws.onopen = () => ws.send(JSON.stringify({ type: 'room:join', ref: 'j', data: { room } }));
            ws.onmessage = (e) => {
              const frame = JSON.parse(e.data);
              if (frame.type !== 'reply' || frame.ref !== 'j') return;
              clearTimeout(timer);
              if (frame.data.ok) ok();
              else fail(new Error(`join ${username}: ${JSON.stringify(frame.data.error)}`));
            };
            ws.onclose = (e) => fail(new Error(`join ${username}: closed ${e.code}`));
          });
          ws.onclose = null;
          ws.close(1000);
          users.push(username);
        }
        return users;
      },
      { room, n, tag: Math.random().toString(36).slice(2, 8) },
    );
  } finally {
    await context.close();
  }
}

describe('long lists', () => {
  // One user creates every room: well over the 10 an hour a person may.
  const sys = suiteSystem({ env: { CHILLIN_RATE_LIMITS: 'room=1000/1h' }, storage: false });

  test('the Discover list pages on scroll and with Show more, and finds a room by name', { timeout: 180000 }, async () => {
    let owner;
    let bob;
    let cat;
    await withScreenshots('directory-paging', async (keep) => {
      owner = await openUser(sys.browser, sys.server, { name: 'owner' });
      const tag = randomId();
      const created = [];
      for (let i = 1; i <= ROOMS; i++) {
        const name = i === ROOMS ? `Faraway Lighthouse ${tag}` : `Lounge ${String(i).padStart(2, '0')} ${tag}`;
        created.push(await createRoom(owner, name));
      }
      const last = created.at(-1);
      await untilListed(owner, '/api/rooms', (body) => body.rooms.some((r) => r.id === last.id), `room ${last.id} listed`);

      // Scrolling: the first page, then the rest once the end of the list comes into view.
      bob = await openUser(sys.browser, sys.server, { name: 'bob' });
      keep(bob.page, 'bob');
      const roomRequests = [];
      bob.page.on('request', (req) => {
        if (new URL(req.url()).pathname === '/api/rooms') roomRequests.push(new URL(req.url()).searchParams);
      });
      await until(async () => (await discoverIds(bob.page)).length === 50, { message: 'the first page of 50 rooms' });
      assert.ok(!(await discoverIds(bob.page)).includes(last.id), 'the last room is not on the first page');
      const nav = bob.page.locator('.room-nav');
      assert.ok(
        await nav.evaluate((el) => el.querySelector('[data-testid=discover-more]').getBoundingClientRect().top > el.getBoundingClientRect().bottom),
        'Show more rooms is below the end of the scrolled list',
      );
      await nav.hover();
      await until(
        async () => {
          await bob.page.mouse.wheel(0, 600);
          return (await discoverIds(bob.page)).includes(last.id);
        },
        { message: 'the last room after scrolling down' },
      );
      const all = await discoverIds(bob.page);
      assert.deepEqual(all, created.map((r) => r.id), 'every room, once, in the order created');
      await bob.page.getByTestId('discover-more').waitFor({ state: 'hidden', timeout: WAIT_MS });
      const paged = roomRequests.filter((p) => p.has('cursor'));
      assert.equal(paged.length, 1, 'one more page asked for');
      assert.equal(paged[0].get('cursor'), created[49].id, 'after the last room of the first page');

      // Search: the results replace the list; clearing it brings the paged list back.
      const search = bob.page.getByTestId('room-search');
      await search.click();
      await search.pressSequentially('lighthouse', { delay: 30 });
      await until(async () => JSON.stringify(await discoverIds(bob.page)) === JSON.stringify([last.id]), { message: 'only the lighthouse' });
      assert.equal(roomRequests.filter((p) => p.has('q')).at(-1).get('q'), 'lighthouse');
      await search.fill('no such room anywhere');
      await bob.page.getByTestId('discover-empty').filter({ hasText: 'No room name holds “no such room anywhere”.' }).waitFor({ timeout: WAIT_MS });
      assert.deepEqual(await discoverIds(bob.page), []);
      await search.fill('');
      await until(async () => (await discoverIds(bob.page)).length === ROOMS, { message: 'the paged list back' });

      // Join the room found by search.
      await search.fill('FARAWAY');
      await until(async () => JSON.stringify(await discoverIds(bob.page)) === JSON.stringify([last.id]), { message: 'the search again' });
      await bob.page.locator(`[data-testid=discover-room][data-room="${last.id}"]`).click();
      await bob.page.locator(`[data-testid=room-item][data-room="${last.id}"][data-state=joined][aria-current=page]`).waitFor({ timeout: WAIT_MS });
      // Still listed under the search, now as a room to open.
      await bob.page.locator(`[data-testid=discover-room][data-room="${last.id}"][data-open=true]`).waitFor({ timeout: WAIT_MS });

      // The keyboard, without scrolling: in a browser without
      // IntersectionObserver only "Show more rooms" loads the next page.
      cat = await openUser(sys.browser, sys.server, { name: 'cat', initScripts: [() => delete window.IntersectionObserver] });
      keep(cat.page, 'cat');
      await until(async () => (await discoverIds(cat.page)).length === 50, { message: "cat's first page" });
      await cat.page.locator('[data-testid=discover-room]').last().focus();
      await cat.page.keyboard.press('Tab');
      assert.equal(await cat.page.evaluate(() => document.activeElement?.dataset.testid), 'discover-more', 'Tab reaches Show more rooms');
      assert.equal((await discoverIds(cat.page)).length, 50, 'nothing loaded before it is pressed');
      await cat.page.keyboard.press('Enter');
      await until(async () => (await discoverIds(cat.page)).length === ROOMS, { message: "cat's second page" });
      assert.deepEqual(await discoverIds(cat.page), created.map((r) => r.id));
      await cat.page.getByTestId('discover-more').waitFor({ state: 'hidden', timeout: WAIT_MS });
    });
    await closeUsers(owner, bob, cat);
  });

  test('the member list of a room past its first page loads the rest on demand', { timeout: 300000 }, async () => {
    let owner;
    let bob;
    await withScreenshots('members-paging', async (keep) => {
      owner = await openUser(sys.browser, sys.server, { name: 'owner' });
      const room = await createRoom(owner, `Crowd ${randomId()}`);
      const seeded = await seedMembers(sys.browser, sys.server, room.id, MEMBERS - 1);
      assert.equal(seeded.length, MEMBERS - 1);
      await untilListed(
        owner,
        `/api/rooms/${room.id}/members?limit=500`,
        (body) => body.members.length === MEMBERS,
        `${MEMBERS} members listed`,
      );

      bob = await openUser(sys.browser, sys.server, { name: 'bob' });
      keep(bob.page);
      await joinRoom(bob.page, room.id);
      const total = MEMBERS + 1;
      const memberIds = () => bob.page.$$eval('[data-testid=member]', (nodes) => nodes.map((n) => n.dataset.user));
      // The first page (and bob himself, who the log shows joining).
      await until(async () => (await memberIds()).length >= 100, { message: 'the first page of members' });
      const first = await memberIds();
      assert.ok(first.length < total, `only the first page at first (${first.length} of ${total})`);
      await bob.page.locator('#room-sub').filter({ hasText: `${total} members` }).waitFor({ timeout: WAIT_MS });

      const panel = bob.page.getByTestId('member-list');
      await panel.hover();
      await until(
        async () => {
          await bob.page.mouse.wheel(0, 800);
          return (await memberIds()).length === total;
        },
        { message: `all ${total} members after scrolling` },
      );
      const ids = await memberIds();
      assert.equal(new Set(ids).size, total, 'each member once');
      for (const user of [...seeded, owner.username, bob.username]) assert.ok(ids.includes(user), `${user} listed`);
      await bob.page.getByTestId('members-more').waitFor({ state: 'hidden', timeout: WAIT_MS });
      await waitState(bob.page, 'CONNECTED');
    });
    await closeUsers(owner, bob);
  });

  test('the room lists keep their items in place as they change: a refresh never swaps the node being clicked', { timeout: 90000 }, async () => {
    let owner;
    let dana;
    await withScreenshots('lists-in-place', async (keep) => {
      owner = await openUser(sys.browser, sys.server, { name: 'owner' });
      const tag = randomId();
      const shed = await createRoom(owner, `Shed ${tag}`);
      const barn = await createRoom(owner, `Barn ${tag}`);
      await untilListed(owner, `/api/rooms?q=${tag}`, (body) => body.rooms.length === 2, 'both rooms listed');

      dana = await openUser(sys.browser, sys.server, { name: 'dana' });
      keep(dana.page, 'dana');
      // Searched for (the list of every room may be past a page): found once the search's answer is in.
      const searched = dana.page.waitForResponse((res) => new URL(res.url()).searchParams.get('q') === tag);
      await dana.page.getByTestId('room-search').fill(tag);
      await searched;
      const discover = (id) => dana.page.locator(`[data-testid=discover-room][data-room="${id}"]`);
      const open = (id) => dana.page.locator(`[data-testid=room-item][data-room="${id}"]`);
      await until(async () => JSON.stringify(await discoverIds(dana.page)) === JSON.stringify([shed.id, barn.id]), { message: 'both rooms found' });
      // Each node is marked: a node put in its place instead comes without the mark.
      const mark = (locator) => locator.evaluate((el) => (el.__kept = true));
      const kept = (locator) => locator.evaluate((el) => el.__kept === true);
      await mark(discover(shed.id));
      await mark(discover(barn.id));

      // Joining one of them re-renders both lists (the room list, its
      // counts, the Discover list refreshed): the items stay the same nodes.
      await discover(shed.id).click();
      await dana.page.locator(`[data-testid=room-item][data-room="${shed.id}"][data-state=joined][aria-current=page]`).waitFor({ timeout: WAIT_MS });
      await discover(shed.id).and(dana.page.locator('[data-open=true]')).waitFor({ timeout: WAIT_MS });
      assert.ok(await kept(discover(barn.id)), 'the other Discover item is the same node');
      assert.ok(await kept(discover(shed.id)), 'the joined room’s Discover item is the same node, now a room to open');
      await mark(open(shed.id));
      await discover(barn.id).click();
      await dana.page.locator(`[data-testid=room-item][data-room="${barn.id}"][data-state=joined][aria-current=page]`).waitFor({ timeout: WAIT_MS });
      await open(shed.id).and(dana.page.locator(':not([aria-current])')).waitFor({ timeout: WAIT_MS });
      assert.ok(await kept(open(shed.id)), 'the first room’s item in the room list is the same node');
      assert.deepEqual(
        await dana.page.$$eval('[data-testid=room-item]', (nodes) => nodes.map((n) => n.dataset.room)),
        [shed.id, barn.id],
        'the rooms in the order joined',
      );
    });
    await closeUsers(owner, dana);
  });
});
