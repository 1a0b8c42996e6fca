// Browser test of paging history back: a room with more than two pages of
// messages, read by someone who joins afterwards and scrolls up.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WAIT_MS, createRoom, joinRoom, messages, openUser, randomId, until, withScreenshots, suiteSystem } from './harness.js';

const SEEDED = 180; // 50 per page: the join's page and three more

/**
 * Posts texts into a room in order over sockets of the page's own session,
 * each confirmed before the next is sent. A socket may send at most 100
 * frames in a burst (then 50 a second) before the gateway closes it with
 * 4008, so every 50 messages get a socket of their own.
 */
async function seed(page, room, texts) {
  for (let i = 0; i < texts.length; i += 50) await seedChunk(page, room, texts.slice(i, i + 50));
}

function seedChunk(page, room, texts) {
  return page.evaluate(
    async ({ room, texts }) => {
      const ws = new WebSocket(`ws://${location.host}/ws`);
      let waiting = null;
      const next = (match) =>
        new Promise((ok, fail) => {
          const timer = setTimeout(() => fail(new Error('seed: no answer')), 10000);
          waiting = {
            match,
            ok: (frame) => {
              clearTimeout(timer);
              ok(frame);
            },
            fail,
          };
        });
      ws.onmessage = (e) => {
        const frame = JSON.parse(e.data);
        if (waiting?.match(frame)) waiting.ok(frame);
      };
      ws.onclose = (e) => waiting?.fail(new Error(`seed: socket closed ${e.code} ${e.reason}`));
      const joined = next((f) => f.type === 'reply' && f.ref === 'join');
      await new Promise((ok) => {
        ws.onopen = ok;
      });
      ws.send(JSON.stringify({ type: 'room:join', ref: 'join', data: { room } }));
      await joined;
      for (const text of texts) {
        const clientId = crypto.randomUUID();
        const answer = next(
          (f) =>
            (f.type === 'event' && f.data.kind === 'message.posted' && f.data.data.clientId === clientId) ||
            (f.type === 'rejected' && f.data.clientId === clientId),
        );
        ws.send(JSON.stringify({ type: 'message:send', data: { room, clientId, text } }));
        const frame = await answer;
        if (frame.type === 'rejected') throw new Error(`seed: ${text} rejected: ${frame.data.code}`);
      }
      waiting = null;
      ws.close(1000);
    },
    { room, texts },
  );
}

describe('history', () => {
  // Seeding posts more than the default 10 messages per 10 s.
  const sys = suiteSystem({ env: { CHILLIN_RATE_LIMIT: '1000' } });

  test('8. scrolling up pages history back, in order, without duplicates', { timeout: 120000 }, async () => {
    let alice;
    let bob;
    await withScreenshots('history-paging', async (keep) => {
      alice = await openUser(sys.browser, sys.server, { name: 'alice' });
      const room = await createRoom(alice, `Archive ${randomId()}`);
      const texts = Array.from({ length: SEEDED }, (_, i) => `history ${String(i + 1).padStart(3, '0')}`);
      await seed(alice.page, room.id, texts);

      bob = await openUser(sys.browser, sys.server, { name: 'bob' });
      keep(bob.page);
      await joinRoom(bob.page, room.id);
      const timeline = bob.page.getByTestId('timeline');
      const edge = bob.page.getByTestId('history-edge');
      const shownTexts = async () => (await messages(bob.page)).map((m) => m.text);

      // The newest page first, ending with the newest message, scrolled to the bottom.
      await until(async () => (await shownTexts()).at(-1) === texts.at(-1), { message: 'the newest message' });
      const first = await shownTexts();
      assert.ok(first.length < SEEDED, `only the latest page at first (${first.length} shown)`);
      assert.deepEqual(first, texts.slice(-first.length), 'the newest messages, in order');
      assert.ok(
        await timeline.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 48),
        'scrolled to the newest message',
      );

      // Pages back first by jumping to the very top (the scrollbar dragged up),
      // then with the wheel, like a person, until the beginning.
      const box = await timeline.boundingBox();
      await bob.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      const older = [];
      bob.page.on('request', (req) => {
        if (/\/messages\?.*before=/.test(req.url())) older.push(req.url());
      });
      let pages = 0;
      for (;;) {
        const before = await shownTexts();
        if (before.length === SEEDED) break;
        assert.ok(pages < 10, 'history ends within 10 pages');
        const topId = await bob.page.locator('[data-testid=message]').first().getAttribute('data-id');
        const jump = pages === 0;
        const grew = () =>
          until(async () => (await shownTexts()).length > before.length, { timeout: jump ? 3000 : 400 }).catch(() => false);
        await until(
          async () => {
            if (jump) await timeline.evaluate((el) => el.scrollTo({ top: 0, behavior: 'instant' }));
            else await bob.page.mouse.wheel(0, -300);
            return grew();
          },
          { interval: 0, message: `an older page after ${before.length} messages` },
        );
        await until(async () => !/Loading/.test(await edge.textContent()), { message: 'the page loaded' });
        pages += 1;
        const now = await shownTexts();
        assert.equal(new Set(now).size, now.length, 'no duplicates');
        assert.deepEqual(now, texts.slice(-now.length), 'contiguous and in order, oldest first');
        if (jump) {
          // The message that was on top is still in view: the reading position is kept.
          const kept = await bob.page.locator(`[data-testid=message][data-id="${topId}"]`).boundingBox();
          const view = await timeline.boundingBox();
          assert.ok(
            kept && kept.y >= view.y && kept.y + kept.height <= view.y + view.height,
            `the reading position is kept: message ${topId} at ${JSON.stringify(kept)}, view ${JSON.stringify(view)}`,
          );
        }
      }
      assert.ok(older.length >= 3, `paged back at least three times (${older.length})`);
      await edge.filter({ hasText: `This is the beginning of #${room.name}.` }).waitFor({ timeout: WAIT_MS });
      assert.deepEqual(await shownTexts(), texts);
      assert.equal(new Set((await messages(bob.page)).map((m) => m.id)).size, SEEDED, 'distinct ids');
      await timeline.evaluate((el) => {
        el.scrollTop = 0;
      });
      assert.deepEqual(bob.errors.map(String), []);
    });
    await alice?.context.close();
    await bob?.context.close();
  });
});
