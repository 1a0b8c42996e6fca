// Browser tests of the layout on small and changing screens: a phone's
// compact header (the room title wins over the connection pill), the member
// list as a sheet over a backdrop that closes, and a window that narrows or
// widens never leaving a panel over the conversation.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PHONE, closeUsers, createRoom, joinRoom, openUser, randomId, screenshot, until, withScreenshots, suiteSystem } from './harness.js';

const TEST_TIMEOUT = 120000;

const rect = (locator) => locator.evaluate((el) => el.getBoundingClientRect().toJSON());

/** Whether the middle of the conversation is the conversation's own (nothing lies over it). */
const conversationUncovered = (page) =>
  page.evaluate(() => {
    const c = document.getElementById('timeline').getBoundingClientRect();
    const el = document.elementFromPoint(c.left + c.width / 2, c.top + c.height / 2);
    return Boolean(el && document.getElementById('conversation').contains(el));
  });

describe('layout', () => {
  const sys = suiteSystem();

  test('on a phone the title wins over the status pill, and the member list is a sheet that closes', { timeout: TEST_TIMEOUT }, async () => {
    let phil;
    await withScreenshots('phone-layout', async (keep) => {
      phil = await openUser(sys.browser, sys.server, { name: 'phil', contextOptions: PHONE });
      const page = phil.page;
      keep(page);
      const room = await createRoom(phil, `A rather long room name for a small screen ${randomId()}`);
      await joinRoom(page, room.id);
      const title = page.getByTestId('room-title');
      const pill = page.getByTestId('conn-status');
      const head = await rect(page.locator('.room-head'));
      const t = await rect(title);
      const p = await rect(pill);
      assert.ok(t.width >= 0.4 * head.width, `the title gets the room: ${Math.round(t.width)} of ${Math.round(head.width)} px`);
      assert.ok(t.right <= p.left, 'the title ends before the pill');
      assert.ok(p.width <= 40, `connected, the pill is its dot (${Math.round(p.width)} px)`);
      assert.equal(await page.locator('#conn-text').textContent(), 'Connected', 'still said to screen readers');
      assert.ok(head.height <= 56, `a compact header (${Math.round(head.height)} px)`);

      // The member list: a sheet from the bottom over a backdrop.
      const panel = page.getByTestId('member-list');
      const scrim = page.locator('#scrim');
      assert.ok(await panel.isHidden());
      await page.getByTestId('members-toggle').tap();
      await panel.waitFor({ state: 'visible' });
      assert.ok(await scrim.isVisible(), 'a backdrop');
      const sheet = await rect(panel);
      const view = page.viewportSize();
      assert.equal(Math.round(sheet.bottom), view.height, 'at the bottom');
      assert.equal(Math.round(sheet.left), 0);
      assert.equal(Math.round(sheet.right), view.width, 'across the screen');
      assert.ok(sheet.top > 0.2 * view.height, 'a sheet, not a whole page');
      assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'members-close', 'the sheet takes the focus');
      await screenshot(page, 'phone-members-sheet');
      // The backdrop closes it.
      await page.touchscreen.tap(view.width / 2, 20);
      await panel.waitFor({ state: 'hidden' });
      assert.ok(await scrim.isHidden());
      // So do its close button and Escape.
      await page.getByTestId('members-toggle').tap();
      await page.getByTestId('members-close').tap();
      await panel.waitFor({ state: 'hidden' });
      assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'members-toggle');
      await page.getByTestId('members-toggle').tap();
      await panel.waitFor({ state: 'visible' });
      await page.keyboard.press('Escape');
      await panel.waitFor({ state: 'hidden' });
      assert.ok(await conversationUncovered(page));
    });
    await closeUsers(phil);
  });

  test('a window that narrows or widens leaves nothing over the conversation', { timeout: TEST_TIMEOUT }, async () => {
    let wendy;
    await withScreenshots('narrowing', async (keep) => {
      wendy = await openUser(sys.browser, sys.server, { name: 'wendy' });
      const page = wendy.page;
      keep(page);
      const room = await createRoom(wendy, `Narrowing ${randomId()}`);
      await joinRoom(page, room.id);
      const panel = page.getByTestId('member-list');
      const scrim = page.locator('#scrim');
      assert.ok(await panel.isVisible(), 'wide: the members beside the conversation');
      assert.ok(await conversationUncovered(page));

      await page.setViewportSize({ width: 900, height: 800 });
      await until(async () => (await panel.isHidden()) && (await scrim.isHidden()), { message: 'narrower: the member list closed, no backdrop' });
      assert.ok(await conversationUncovered(page), 'nothing over the conversation at 900 px');

      await page.setViewportSize({ width: 600, height: 800 });
      await page.getByTestId('menu-toggle').click();
      await until(async () => scrim.isVisible(), { message: 'the drawer open' });
      await page.setViewportSize({ width: 900, height: 800 });
      await until(async () => scrim.isHidden(), { message: 'wider again: the drawer closed, no backdrop' });
      assert.ok(await conversationUncovered(page), 'nothing over the conversation after widening');

      await page.setViewportSize({ width: 1280, height: 800 });
      await panel.waitFor({ state: 'visible' });
      assert.ok(await conversationUncovered(page));
    });
    await closeUsers(wendy);
  });
});
