// Browser tests of reaching everything without a mouse: messages focusable
// and their actions (react, reply, edit, delete) from the keyboard, Up in an
// empty box to edit, Escape to cancel, the app's own delete confirmation; on
// a touch screen a visible button opens a message's actions; axe-core finds
// no serious or critical violation on the main screens, which are also
// saved as screenshots, light and dark, desktop and phone.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  PHONE,
  WAIT_MS,
  assertAccessible,
  closeUsers,
  joinRoom,
  messageEl,
  openPair,
  openUser,
  screensInBothSchemes,
  send,
  until,
  waitForTexts,
  waitState,
  withScreenshots,
  suiteSystem,
} from './harness.js';

const TEST_TIMEOUT = 120000;

/** What has the focus: a message's text, a test id, or the tag. */
const focused = (page) =>
  page.evaluate(() => {
    const el = document.activeElement;
    if (!el) return null;
    if (el.matches('.msg')) return `message:${el.querySelector('[data-testid=message-text]')?.textContent ?? ''}`;
    return el.dataset.testid || el.getAttribute('aria-label') || el.tagName.toLowerCase();
  });

describe('access', () => {
  const sys = suiteSystem();

  test('the keyboard reaches every action on a message', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    await withScreenshots('keyboard', async (keep) => {
      ({ alice, bob } = await openPair(sys.browser, sys.server, 'Keys'));
      keep(alice.page);
      keep(bob.page, 'bob');
      const page = alice.page;
      await send(page, 'first');
      await send(page, 'second');
      await waitForTexts(bob.page, ['first', 'second']);
      await send(bob.page, 'from bob');
      await waitForTexts(page, ['from bob']);
      await until(async () => (await page.locator('[data-testid=message][data-state=SENT]').count()) === 3, { message: 'all SENT' });

      // Up in the empty box edits the last message of one's own; Enter saves.
      const input = page.getByTestId('composer-input');
      await input.focus();
      await input.press('ArrowUp');
      const edit = page.getByTestId('edit-input');
      await edit.waitFor({ timeout: WAIT_MS });
      assert.equal(await edit.inputValue(), 'second');
      await edit.press('End');
      await edit.type(' (edited)');
      await edit.press('Enter');
      await waitForTexts(bob.page, ['second (edited)']);
      assert.equal(await focused(page), 'composer-input', 'back in the box after saving');
      // Escape cancels an edit.
      await input.press('ArrowUp');
      await edit.waitFor();
      await edit.press('Escape');
      await edit.waitFor({ state: 'detached' });
      assert.equal(await focused(page), 'composer-input', 'back in the box after Escape');
      await messageEl(page, 'second (edited)').waitFor();

      // Shift+Tab from the box reaches the messages: one tab stop, the newest.
      for (let i = 0; i < 6 && !(await focused(page))?.startsWith('message:'); i++) await page.keyboard.press('Shift+Tab');
      assert.equal(await focused(page), 'message:from bob');
      await page.keyboard.press('ArrowUp');
      assert.equal(await focused(page), 'message:second (edited)');
      await page.keyboard.press('ArrowDown');
      assert.equal(await focused(page), 'message:from bob');

      // Enter opens its actions: the first reaction has the focus.
      await page.keyboard.press('Enter');
      assert.equal(await focused(page), 'React with 👍');
      await page.keyboard.press('Enter');
      await messageEl(bob.page, 'from bob').locator('[data-testid=reaction][data-emoji="👍"]').waitFor({ timeout: WAIT_MS });
      // Escape closes them, the message keeps the focus.
      await page.keyboard.press('Escape');
      assert.equal(await focused(page), 'message:from bob');

      // Reply: Enter, then Tab to Reply.
      await page.keyboard.press('Enter');
      for (let i = 0; i < 8 && (await focused(page)) !== 'reply-button'; i++) await page.keyboard.press('Tab');
      assert.equal(await focused(page), 'reply-button');
      await page.keyboard.press('Enter');
      const bar = page.getByTestId('reply-bar');
      await bar.waitFor();
      assert.match(await bar.textContent(), /Replying to Bob: from bob/);
      assert.equal(await focused(page), 'composer-input');
      await page.keyboard.type('an answer');
      await page.keyboard.press('Enter');
      await waitForTexts(bob.page, ['an answer']);
      const ref = messageEl(bob.page, 'an answer').getByTestId('reply-ref');
      await ref.waitFor({ timeout: WAIT_MS });
      assert.match(await ref.textContent(), /Bob: from bob/);
      assert.ok(await bar.isHidden(), 'the reply bar goes once sent');
      // Escape in the box cancels a reply.
      await messageEl(page, 'first').hover();
      await messageEl(page, 'first').getByTestId('reply-button').click();
      await bar.waitFor();
      await input.press('Escape');
      await bar.waitFor({ state: 'hidden' });

      // Delete from the keyboard, confirmed in the app's own dialog: Cancel first.
      const browserDialogs = [];
      page.on('dialog', (d) => {
        browserDialogs.push(d.type());
        d.dismiss();
      });
      const deleteFirst = async () => {
        await messageEl(page, 'first').focus();
        await page.keyboard.press('Enter');
        for (let i = 0; i < 10 && (await focused(page)) !== 'delete-button'; i++) await page.keyboard.press('Tab');
        assert.equal(await focused(page), 'delete-button');
        await page.keyboard.press('Enter');
        await page.getByTestId('confirm-dialog').waitFor();
      };
      await deleteFirst();
      assert.equal(await focused(page), 'confirm-cancel');
      await page.keyboard.press('Enter');
      await page.getByTestId('confirm-dialog').waitFor({ state: 'hidden' });
      // The dialog gives the focus back to its opener as it closes; the message
      // takes it once the dialog's close event has run, a task later.
      await until(async () => (await focused(page)) === 'message:first', { message: 'the focus goes back to the message' });
      await deleteFirst();
      await page.keyboard.press('Tab');
      assert.equal(await focused(page), 'confirm-ok');
      await page.keyboard.press('Enter');
      await until(async () => (await bob.page.getByTestId('message-list').textContent()).includes('This message was deleted.'), { message: 'deleted at bob' });
      assert.deepEqual(browserDialogs, [], 'no browser dialog');
    });
    await closeUsers(alice, bob);
  });

  test('on a touch screen a visible button opens a message’s actions', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    let tess;
    await withScreenshots('touch-actions', async (keep) => {
      ({ alice, bob } = await openPair(sys.browser, sys.server, 'Touch'));
      tess = await openUser(sys.browser, sys.server, { name: 'tess', contextOptions: PHONE });
      keep(tess.page);
      const room = await alice.page.locator('[data-testid=room-item][aria-current=page]').getAttribute('data-room');
      await joinRoom(tess.page, room);
      await send(alice.page, 'tap me');
      await waitForTexts(tess.page, ['tap me']);
      const msg = messageEl(tess.page, 'tap me');
      const more = msg.getByTestId('more-button');
      await more.waitFor({ state: 'visible', timeout: WAIT_MS });
      assert.ok(await msg.locator('.actions').isHidden(), 'closed at first');
      await more.tap();
      await msg.locator('.actions').waitFor({ state: 'visible' });
      assert.equal(await more.getAttribute('aria-expanded'), 'true');
      await msg.getByTestId('reply-button').tap();
      await tess.page.getByTestId('reply-bar').waitFor();
    });
    await closeUsers(alice, bob, tess);
  });

  test('the main screens have no serious accessibility violation (and are saved, light and dark)', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    const contexts = [];
    try {
      for (const [device, options] of [
        ['desktop', { viewport: { width: 1280, height: 800 } }],
        ['phone', PHONE],
      ]) {
        const context = await sys.browser.newContext({ baseURL: sys.server.baseURL, ...options });
        contexts.push(context);
        const page = await context.newPage();
        await page.goto('/');
        await page.getByTestId('auth-screen').waitFor();
        await assertAccessible(page, `log in (${device})`);
        await screensInBothSchemes(page, 'login', device);
      }
      ({ alice, bob } = await openPair(sys.browser, sys.server, 'Screens'));
      await send(alice.page, 'Hello **there**, see `the docs` at https://example.com 🎉');
      await send(bob.page, '> a quote\nand an answer');
      await until(async () => (await alice.page.locator('[data-testid=message] blockquote').count()) === 1, { message: 'the quote at alice' });
      await assertAccessible(alice.page, 'chat with a room open (desktop)');
      await screensInBothSchemes(alice.page, 'chat', 'desktop');
      await alice.page.getByTestId('room-search').fill('Screens');
      await alice.page.locator('[data-testid=discover-room]').first().waitFor({ timeout: WAIT_MS }).catch(() => {});
      await assertAccessible(alice.page, 'discover (desktop)');
      await screensInBothSchemes(alice.page, 'discover', 'desktop');

      const phone = await openUser(sys.browser, sys.server, { name: 'phil', contextOptions: PHONE });
      contexts.push(phone.context);
      const room = await alice.page.locator('[data-testid=room-item][aria-current=page]').getAttribute('data-room');
      await joinRoom(phone.page, room);
      await waitState(phone.page, 'CONNECTED');
      await assertAccessible(phone.page, 'chat with a room open (phone)');
      await screensInBothSchemes(phone.page, 'chat', 'phone');
      await phone.page.getByTestId('menu-toggle').tap();
      await phone.page.getByTestId('room-search').waitFor({ state: 'visible' });
      await assertAccessible(phone.page, 'discover (phone)');
      await screensInBothSchemes(phone.page, 'discover', 'phone');
    } finally {
      for (const c of contexts) await c.close();
    }
    await closeUsers(alice, bob);
  });
});
