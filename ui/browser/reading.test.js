// Browser tests of how messages read: the markdown subset (rendered as DOM
// nodes, links http(s) only), the emoji fonts, the gutter of a grouped run,
// the hover toolbar at the top edge of the list, a deleted message's status,
// avatars' initials and colour, and members sorted the way people read.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WAIT_MS, closeUsers, joinRoom, messageEl, openPair, openUser, send, until, waitForTexts, withScreenshots, suiteSystem } from './harness.js';

const TEST_TIMEOUT = 120000;

/** A box's edges, rounded to whole pixels. */
const box = (locator) =>
  locator.evaluate((el) => {
    const r = el.getBoundingClientRect();
    return { top: Math.round(r.top), bottom: Math.round(r.bottom), left: Math.round(r.left), right: Math.round(r.right) };
  });

describe('reading', () => {
  const sys = suiteSystem();

  test('markdown shows as formatting, never as markup; unsafe links stay text', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    await withScreenshots('markdown', async (keep) => {
      ({ alice, bob } = await openPair(sys.browser, sys.server, 'Markdown'));
      keep(bob.page);
      const rich = '**bold** *italic* `a<b>` [the site](https://example.com/x) and https://example.org/y.\n> quoted *line*\n```\nline 1\n  <b>line 2</b>\n```';
      const unsafe = '[click](javascript:window.__xss=1) _quiet_ snake_case_name 2*3*4';
      await send(alice.page, rich);
      await send(alice.page, unsafe);
      await until(async () => (await bob.page.locator('[data-testid=message]').count()) === 2, { message: 'both messages at bob' });
      const first = bob.page.locator('[data-testid=message]').first().getByTestId('message-text');
      assert.equal(await first.locator('strong').textContent(), 'bold');
      assert.equal(await first.locator('em').first().textContent(), 'italic');
      assert.equal(await first.locator('code.md-code').textContent(), 'a<b>');
      const links = await first.locator('a').evaluateAll((as) => as.map((a) => ({ href: a.href, text: a.textContent, rel: a.rel, target: a.target })));
      assert.equal(links.length, 2);
      assert.deepEqual(links.map((l) => [l.href, l.text]), [
        ['https://example.com/x', 'the site'],
        ['https://example.org/y', 'https://example.org/y'],
      ]);
      for (const l of links) {
        assert.match(l.rel, /\bnoopener\b/);
        assert.match(l.rel, /\bnoreferrer\b/);
        assert.equal(l.target, '_blank');
      }
      assert.equal(await first.locator('blockquote').textContent(), 'quoted line');
      assert.equal(await first.locator('blockquote em').textContent(), 'line');
      assert.equal(await first.locator('pre code').textContent(), 'line 1\n  <b>line 2</b>');
      assert.equal(await first.locator('b, script, img').count(), 0, 'no element from the text itself');

      const second = bob.page.locator('[data-testid=message]').last().getByTestId('message-text');
      assert.equal(await second.textContent(), '[click](javascript:window.__xss=1) quiet snake_case_name 2*3*4');
      assert.equal(await second.locator('a').count(), 0, 'a javascript: link is not a link');
      assert.equal(await second.locator('em').textContent(), 'quiet');
      assert.equal(await bob.page.evaluate(() => window.__xss), undefined);

      const fonts = await bob.page.evaluate(() => getComputedStyle(document.body).fontFamily);
      for (const font of ['Apple Color Emoji', 'Segoe UI Emoji', 'Noto Color Emoji']) assert.ok(fonts.includes(font), `${font} in ${fonts}`);
    });
    await closeUsers(alice, bob);
  });

  test('a grouped run is evenly spaced, its times stay in the gutter, the toolbar shows whole at the top', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    await withScreenshots('grouped-run', async (keep) => {
      ({ alice, bob } = await openPair(sys.browser, sys.server, 'Grouped'));
      keep(alice.page);
      const texts = ['one', 'two', 'three', 'four'];
      for (const t of texts) await send(alice.page, t);
      await waitForTexts(alice.page, texts);
      await until(async () => (await alice.page.locator('[data-testid=message][data-state=SENT]').count()) === 4, { message: 'all SENT' });
      // From each text to the next, the header row of the run included.
      const lines = [];
      for (const t of texts) lines.push(await messageEl(alice.page, t).getByTestId('message-text').evaluate((el) => el.getBoundingClientRect().toJSON()));
      const gaps = lines.slice(1).map((r, i) => r.top - lines[i].bottom);
      assert.ok(Math.max(...gaps) - Math.min(...gaps) < 0.5, `one distance between the texts of a run: ${gaps}`);
      assert.ok(await messageEl(alice.page, 'three').evaluate((el) => el.classList.contains('continued')));

      const two = messageEl(alice.page, 'two');
      await two.hover();
      const gutter = two.locator('.gutter-time');
      const time = await gutter.evaluate((el) => ({ shown: el.scrollWidth <= el.clientWidth, color: getComputedStyle(el).color }));
      assert.ok(time.shown, 'the whole time fits its gutter');
      assert.ok((await box(gutter)).right <= (await box(two.getByTestId('message-text'))).left, 'the time ends before the text begins');
      const editing = alice.page.locator(`[data-testid=message][data-key="${await two.getAttribute('data-key')}"]`);
      await two.getByTestId('edit-button').click();
      const input = alice.page.getByTestId('edit-input');
      await input.waitFor();
      await editing.hover();
      assert.ok((await box(editing.locator('.gutter-time'))).right <= (await box(input)).left, 'the time ends before the edit box begins');
      await input.press('Escape');

      // A row at the very top of the list: its toolbar is not cut off by the header.
      await alice.page.setViewportSize({ width: 1280, height: 420 });
      const timeline = alice.page.getByTestId('timeline');
      await messageEl(alice.page, 'two').evaluate((el) => {
        el.closest('[data-testid=timeline]').scrollTop = el.offsetTop;
      });
      const top = messageEl(alice.page, 'two');
      await alice.page.mouse.move(0, 0);
      await top.hover();
      const bar = top.locator('.actions');
      await bar.waitFor();
      assert.ok((await box(bar)).top >= (await box(timeline)).top, 'the toolbar starts inside the list');
      await alice.page.setViewportSize({ width: 1280, height: 800 });
    });
    await closeUsers(alice, bob);
  });

  test('a deleted message loses its sent check; avatars show two letters in the user’s colour; members sort 2 before 10', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    let zed2;
    let zed10;
    await withScreenshots('avatars-members', async (keep) => {
      ({ alice, bob } = await openPair(sys.browser, sys.server, 'Avatars'));
      keep(bob.page);
      await send(alice.page, 'soon gone');
      const gone = messageEl(alice.page, 'soon gone');
      await gone.and(alice.page.locator('[data-state=SENT]')).waitFor({ timeout: WAIT_MS });
      assert.equal(await gone.getByTestId('message-status').count(), 1, 'sent: a check');
      await gone.hover();
      await gone.getByTestId('delete-button').click();
      await alice.page.getByTestId('confirm-ok').click();
      const deleted = alice.page.locator('[data-testid=message].deleted');
      await deleted.waitFor({ timeout: WAIT_MS });
      assert.equal(await deleted.getByTestId('message-status').count(), 0, 'no check on a deleted message');

      await send(alice.page, 'hello from alice');
      await waitForTexts(bob.page, ['hello from alice']);
      const avatar = bob.page.locator(`[data-testid=message][data-user="${alice.username}"] .avatar`).first();
      assert.equal((await avatar.textContent()).trim(), 'AL', 'two letters of a one-word name');
      const hues = await bob.page.evaluate((user) => [...document.querySelectorAll(`.avatar[data-user="${user}"]`)].map((a) => a.style.getPropertyValue('--hue')), alice.username);
      assert.ok(hues.length >= 2, 'alice in the messages and the member list');
      assert.equal(new Set(hues).size, 1, 'one colour for one user everywhere');

      const room = (await bob.page.locator('[data-testid=room-item][aria-current=page]').getAttribute('data-room')) ?? '';
      zed10 = await openUser(sys.browser, sys.server, { name: 'zed', displayName: 'Zed 10' });
      zed2 = await openUser(sys.browser, sys.server, { name: 'zed', displayName: 'Zed 2' });
      await joinRoom(zed10.page, room);
      await joinRoom(zed2.page, room);
      const names = () => bob.page.locator('[data-testid=member] .member-name').allTextContents();
      const online = () => bob.page.locator('[data-testid=member][data-status=online]').count();
      await until(async () => (await online()) === 4, { message: 'four members online at bob' });
      assert.deepEqual(await names(), ['Alice', 'Bob', 'Zed 2', 'Zed 10']);
    });
    await closeUsers(alice, bob, zed2, zed10);
  });
});
