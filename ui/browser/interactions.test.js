// Browser tests of what people do to messages and what they see of each
// other: reactions, edits, deletes, the typing indicator and presence. The
// real all-in-one server, Debian's Chromium, two (or three) users per test.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  WAIT_MS,
  messageEl,
  screenshot,
  send,
  until,
  waitForTexts,
  withScreenshots,
  openPair,
  closeUsers,
  suiteSystem,
} from './harness.js';

const TEST_TIMEOUT = 120000;

describe('interactions', () => {
  const sys = suiteSystem();

  /** Two users in a fresh room, both looking at it. */
  const pair = (prefix, options) => openPair(sys.browser, sys.server, prefix, options);

  /** The reactions under a message: {emoji: {count, pressed}}. */
  const reactionsOf = (page, text) =>
    messageEl(page, text)
      .getByTestId('reaction')
      .evaluateAll((nodes) =>
        Object.fromEntries(
          nodes.map((n) => [n.dataset.emoji, { count: Number(n.querySelector('.count').textContent), pressed: n.getAttribute('aria-pressed') === 'true' }]),
        ),
      );

  async function waitReactions(page, text, want, who) {
    let seen = null;
    await until(
      async () => {
        seen = await reactionsOf(page, text);
        return JSON.stringify(seen) === JSON.stringify(want);
      },
      { message: `${who} to see reactions ${JSON.stringify(want)}` },
    ).catch((err) => {
      throw new Error(`${err.message}; shown: ${JSON.stringify(seen)}`);
    });
  }

  test('reactions: add from the toolbar, a second user adds to the count, each removes their own', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    await withScreenshots('reactions', async (keep) => {
      ({ alice, bob } = await pair('Reactions'));
      keep(alice.page);
      keep(bob.page, 'bob');
      const text = 'Who is in for pizza tonight?';
      await send(alice.page, text);
      await waitForTexts(bob.page, [text]);

      // Bob reacts through the toolbar that shows on hover.
      const bobMsg = messageEl(bob.page, text);
      await bobMsg.hover();
      await bobMsg.getByRole('button', { name: 'React with 👍' }).click();
      await waitReactions(bob.page, text, { '👍': { count: 1, pressed: true } }, 'Bob');
      await waitReactions(alice.page, text, { '👍': { count: 1, pressed: false } }, 'Alice');

      // Alice adds hers by clicking the existing chip: a count of two for both.
      await messageEl(alice.page, text).getByTestId('reaction').click();
      await waitReactions(alice.page, text, { '👍': { count: 2, pressed: true } }, 'Alice');
      await waitReactions(bob.page, text, { '👍': { count: 2, pressed: true } }, 'Bob');
      const label = await messageEl(bob.page, text).getByTestId('reaction').getAttribute('aria-label');
      assert.match(label, /^👍 2: (Alice, Bob|Bob, Alice)$/, 'the chip names who reacted');

      // A second emoji, then Bob takes his 👍 back.
      await bobMsg.hover();
      await bobMsg.getByRole('button', { name: 'React with 🎉' }).click();
      await waitReactions(alice.page, text, { '👍': { count: 2, pressed: true }, '🎉': { count: 1, pressed: false } }, 'Alice');
      await screenshot(alice.page, 'reactions-two');
      await bobMsg.getByTestId('reaction').filter({ hasText: '👍' }).click();
      await waitReactions(bob.page, text, { '👍': { count: 1, pressed: false }, '🎉': { count: 1, pressed: true } }, 'Bob');
      await waitReactions(alice.page, text, { '👍': { count: 1, pressed: true }, '🎉': { count: 1, pressed: false } }, 'Alice');

      // Alice removes hers: the 👍 chip goes for both.
      await messageEl(alice.page, text).getByTestId('reaction').filter({ hasText: '👍' }).click();
      await waitReactions(alice.page, text, { '🎉': { count: 1, pressed: false } }, 'Alice');
      await waitReactions(bob.page, text, { '🎉': { count: 1, pressed: true } }, 'Bob');

      // What the server kept is what both saw.
      await alice.page.reload();
      await waitForTexts(alice.page, [text]);
      await waitReactions(alice.page, text, { '🎉': { count: 1, pressed: false } }, 'Alice after a reload');
    });
    await closeUsers(alice, bob);
  });

  test('edit: the author edits, both see the new text with an edited marker', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    await withScreenshots('edit', async (keep) => {
      ({ alice, bob } = await pair('Edits'));
      keep(alice.page);
      keep(bob.page, 'bob');
      await send(alice.page, 'See you at 7 on Frday');
      await waitForTexts(bob.page, ['See you at 7 on Frday']);
      assert.equal(await messageEl(bob.page, 'See you at 7 on Frday').getByTestId('edit-button').count(), 0, 'only the author can edit');

      const mine = messageEl(alice.page, 'See you at 7 on Frday');
      await mine.hover();
      await mine.getByTestId('edit-button').click();
      const input = alice.page.getByTestId('edit-input');
      assert.equal(await input.inputValue(), 'See you at 7 on Frday', 'the editor starts from the text');
      await input.fill('See you at 7 on Friday');
      await input.press('Enter');

      for (const page of [alice.page, bob.page]) {
        const edited = messageEl(page, 'See you at 7 on Friday');
        await edited.locator('[data-testid=message-text][data-edited]').waitFor({ timeout: WAIT_MS });
        assert.equal(await messageEl(page, 'See you at 7 on Frday').count(), 0, 'the old text is gone');
        assert.equal(await page.getByTestId('message').count(), 1, 'edited in place, not added');
      }
      // An edit survives a reload (the history carries editedAt).
      await bob.page.reload();
      await messageEl(bob.page, 'See you at 7 on Friday').locator('[data-testid=message-text][data-edited]').waitFor({ timeout: WAIT_MS });
      assert.match(await messageEl(bob.page, 'See you at 7 on Friday').getByTestId('message-text').getAttribute('title'), /^Edited /);

      // Escape cancels an edit without sending anything.
      const fixed = messageEl(alice.page, 'See you at 7 on Friday');
      await fixed.hover();
      await fixed.getByTestId('edit-button').click();
      await alice.page.getByTestId('edit-input').fill('never sent');
      await alice.page.getByTestId('edit-input').press('Escape');
      assert.equal(await alice.page.getByTestId('edit-input').count(), 0);
      await send(alice.page, 'after the cancelled edit');
      await waitForTexts(bob.page, ['after the cancelled edit']);
      assert.equal(await messageEl(bob.page, 'never sent').count(), 0);
      assert.equal(await messageEl(bob.page, 'See you at 7 on Friday').count(), 1);
    });
    await closeUsers(alice, bob);
  });

  test('delete: the text is gone for both, also after a reload', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    await withScreenshots('delete', async (keep) => {
      ({ alice, bob } = await pair('Deletes'));
      keep(alice.page);
      keep(bob.page, 'bob');
      const secret = 'my password is hunter2';
      await send(alice.page, 'hello');
      await send(alice.page, secret);
      await waitForTexts(bob.page, ['hello', secret]);
      assert.equal(await messageEl(bob.page, secret).getByTestId('delete-button').count(), 0, 'only the author can delete');

      // The confirmation (the app's own dialog, never the browser's) is
      // declined first, with Escape: nothing happens.
      const browserDialogs = [];
      alice.page.on('dialog', (d) => {
        browserDialogs.push(d.type());
        d.dismiss();
      });
      const mine = messageEl(alice.page, secret);
      const confirmDialog = alice.page.getByTestId('confirm-dialog');
      await mine.hover();
      await mine.getByTestId('delete-button').click();
      await confirmDialog.waitFor();
      assert.match(await confirmDialog.textContent(), /Delete this message for everyone\?/);
      assert.equal(await alice.page.evaluate(() => document.activeElement?.dataset.testid), 'confirm-cancel', 'Cancel is focused first');
      await screenshot(alice.page, 'delete-confirm');
      await alice.page.keyboard.press('Escape');
      await confirmDialog.waitFor({ state: 'hidden' });
      await send(alice.page, 'still here?');
      await waitForTexts(bob.page, ['still here?']);
      assert.equal(await messageEl(bob.page, secret).count(), 1, 'declined: not deleted');

      await mine.hover();
      await mine.getByTestId('delete-button').click();
      await alice.page.getByTestId('confirm-ok').click();
      await confirmDialog.waitFor({ state: 'hidden' });
      assert.deepEqual(browserDialogs, [], 'no browser dialog');
      for (const page of [alice.page, bob.page]) {
        await until(async () => (await page.getByTestId('message-list').textContent()).includes('This message was deleted.'), {
          message: 'the deleted placeholder',
        });
        assert.equal(await page.getByTestId('message').count(), 3, 'the placeholder keeps its place');
        assert.ok(!(await page.getByTestId('message-list').textContent()).includes('hunter2'), 'the text is gone');
      }
      await screenshot(bob.page, 'delete-after-bob');
      for (const page of [alice.page, bob.page]) {
        await page.reload();
        await waitForTexts(page, ['hello', 'still here?']);
        await until(async () => (await page.getByTestId('message-list').textContent()).includes('This message was deleted.'), {
          message: 'the deleted placeholder after a reload',
        });
        assert.ok(!(await page.content()).includes('hunter2'), 'the text is gone after a reload');
      }
      // A deleted message offers no actions.
      const placeholder = alice.page.getByTestId('message').filter({ hasText: 'This message was deleted.' });
      await placeholder.hover();
      assert.equal(await placeholder.getByTestId('edit-button').count(), 0);
      assert.equal(await placeholder.getByTestId('delete-button').count(), 0);
    });
    await closeUsers(alice, bob);
  });

  test('reply: the quote follows a later edit and delete of the message it answers, sent or being written', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    await withScreenshots('reply-follows', async (keep) => {
      ({ alice, bob } = await pair('Replies'));
      keep(alice.page);
      keep(bob.page, 'bob');
      await send(alice.page, 'Lunch at noon?');
      await waitForTexts(bob.page, ['Lunch at noon?']);
      const asked = messageEl(bob.page, 'Lunch at noon?');
      await asked.hover();
      await asked.getByTestId('reply-button').click();
      await bob.page.getByTestId('reply-bar').waitFor();
      await send(bob.page, 'Sure');
      await waitForTexts(alice.page, ['Sure']);
      const quoted = (page) => messageEl(page, 'Sure').getByTestId('reply-ref');
      const quoteIs = (page, pattern, what) =>
        until(async () => pattern.test((await quoted(page).textContent().catch(() => '')) ?? ''), { message: what });
      for (const page of [alice.page, bob.page]) await quoteIs(page, /Alice: Lunch at noon\?/, 'the reply quotes the question');

      // The author edits the question: both replies quote it as it stands.
      const mine = messageEl(alice.page, 'Lunch at noon?');
      await mine.hover();
      await mine.getByTestId('edit-button').click();
      await alice.page.getByTestId('edit-input').fill('Lunch at one?');
      await alice.page.getByTestId('edit-input').press('Enter');
      for (const page of [alice.page, bob.page]) await quoteIs(page, /Alice: Lunch at one\?/, 'the reply quotes the edited question');

      // Deleted: the quote no longer shows its text, for either of them.
      const edited = messageEl(alice.page, 'Lunch at one?');
      await edited.hover();
      await edited.getByTestId('delete-button').click();
      await alice.page.getByTestId('confirm-ok').click();
      for (const page of [alice.page, bob.page]) {
        await quoteIs(page, /a deleted message/, 'the reply quotes a deleted message');
        assert.ok(!(await quoted(page).textContent()).includes('Lunch'), 'the deleted text is not quoted');
      }
      await screenshot(bob.page, 'reply-after-delete');

      // A reply being written follows the message it answers the same way.
      await send(alice.page, 'Dinner too?');
      await waitForTexts(bob.page, ['Dinner too?']);
      const dinner = messageEl(bob.page, 'Dinner too?');
      await dinner.hover();
      await dinner.getByTestId('reply-button').click();
      const bar = bob.page.getByTestId('reply-bar');
      const barIs = (pattern, what) => until(async () => pattern.test((await bar.textContent()) ?? ''), { message: what });
      await barIs(/Replying to Alice: Dinner too\?/, 'the reply bar quotes the question');
      const asking = messageEl(alice.page, 'Dinner too?');
      await asking.hover();
      await asking.getByTestId('edit-button').click();
      await alice.page.getByTestId('edit-input').fill('Dinner at 8?');
      await alice.page.getByTestId('edit-input').press('Enter');
      await barIs(/Replying to Alice: Dinner at 8\?/, 'the reply bar quotes the edited question');
      const dinnerAt8 = messageEl(alice.page, 'Dinner at 8?');
      await dinnerAt8.hover();
      await dinnerAt8.getByTestId('delete-button').click();
      await alice.page.getByTestId('confirm-ok').click();
      await barIs(/Replying to Alice: a deleted message/, 'the reply bar quotes a deleted message');
      assert.ok(!(await bar.textContent()).includes('Dinner'), 'the deleted text is not quoted in the reply bar');
    });
    await closeUsers(alice, bob);
  });

  test('typing indicator: shown to the other user, gone after sending, fades out when the stop never comes', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    // Bob's typing:stop frames can be held back, to see Alice's indicator expire on its own.
    const bobSocket = { dropStops: false, dropped: 0 };
    await withScreenshots('typing', async (keep) => {
      ({ alice, bob } = await pair('Typing', {
        bob: {
          setup: (context) =>
            context.routeWebSocket(/\/ws$/, (ws) => {
              const server = ws.connectToServer();
              ws.onMessage((message) => {
                if (bobSocket.dropStops && typeof message === 'string' && JSON.parse(message).type === 'typing:stop') {
                  bobSocket.dropped += 1;
                  return;
                }
                server.send(message);
              });
            }),
        },
      }));
      keep(alice.page);
      keep(bob.page, 'bob');
      const indicator = alice.page.getByTestId('typing-indicator');
      assert.equal(await indicator.textContent(), '');

      await bob.page.getByTestId('composer-input').pressSequentially('Hang on, I', { delay: 20 });
      await until(async () => (await indicator.textContent()) === 'Bob is typing…', { message: 'Alice sees Bob typing' });
      assert.equal(await bob.page.getByTestId('typing-indicator').textContent(), '', 'no indicator for one’s own typing');
      await screenshot(alice.page, 'typing-shown');

      // Sending stops it.
      await bob.page.getByTestId('composer-input').pressSequentially(' am coming', { delay: 20 });
      await bob.page.getByTestId('composer-input').press('Enter');
      await waitForTexts(alice.page, ['Hang on, I am coming']);
      await until(async () => (await indicator.textContent()) === '', { message: 'the indicator gone after Bob sent' });

      // Typing again, then leaving the box, whose stop does not reach the
      // server: the indicator expires on its own.
      await bob.page.getByTestId('composer-input').pressSequentially('one more', { delay: 20 });
      await until(async () => (await indicator.textContent()) === 'Bob is typing…', { message: 'Alice sees Bob typing again' });
      bobSocket.dropStops = true;
      await bob.page.getByTestId('composer-input').blur();
      await until(() => bobSocket.dropped > 0, { message: 'Bob’s typing:stop held back' });
      await until(async () => (await indicator.textContent()) === '', { timeout: 30000, message: 'the indicator expired' });
    });
    await closeUsers(alice, bob);
  });

  test('presence: the other user shows online, away when they say so, offline once they close the app', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    await withScreenshots('presence', async (keep) => {
      ({ alice, bob } = await pair('Presence'));
      keep(alice.page);
      const bobMember = alice.page.locator(`[data-testid=member][data-user="${bob.username}"]`);
      await bobMember.and(alice.page.locator('[data-status=online]')).waitFor({ timeout: WAIT_MS });
      assert.equal(await bobMember.locator('.presence-dot').getAttribute('title'), 'Online');

      // Bob says he is away, through the menu of his own card.
      await bob.page.getByTestId('me-menu-toggle').click();
      assert.equal(await bob.page.getByTestId('status-online').getAttribute('aria-checked'), 'true');
      await screenshot(bob.page, 'presence-menu');
      await bob.page.getByTestId('status-away').click();
      assert.equal(await bob.page.getByTestId('me-menu').isVisible(), false, 'the menu closes');
      await bobMember.and(alice.page.locator('[data-status=away]')).waitFor({ timeout: WAIT_MS });
      assert.equal(await bobMember.locator('.presence-dot').getAttribute('title'), 'Away');
      await bob.page.locator(`[data-testid=member][data-user="${bob.username}"][data-status=away]`).waitFor({ timeout: WAIT_MS });
      assert.equal(await bob.page.getByTestId('me').getAttribute('data-status'), 'away', 'Bob’s own card shows it');
      await screenshot(alice.page, 'presence-away');

      // Back online.
      await bob.page.getByTestId('me-menu-toggle').click();
      await bob.page.getByTestId('status-online').click();
      await bobMember.and(alice.page.locator('[data-status=online]')).waitFor({ timeout: WAIT_MS });

      // Bob closes the app: offline for Alice.
      await bob.context.close();
      bob = null;
      await bobMember.and(alice.page.locator('[data-status=offline]')).waitFor({ timeout: WAIT_MS });
      assert.equal(await bobMember.locator('.presence-dot').getAttribute('title'), 'Offline');
      await until(async () => /· 1 online/.test(await alice.page.locator('#room-sub').textContent()), { message: 'one online in the header' });
    });
    await closeUsers(alice, bob);
  });
});
