// Browser tests of files: attachments uploaded from the composer straight to
// media storage (the MinIO that ops/scripts/deps.sh runs) and shown to the
// other user, files refused before they are sent, the composer without
// storage, and avatars. The real all-in-one server, Debian's Chromium.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  RECORD_CSP_VIOLATIONS,
  WAIT_MS,
  createRoom,
  joinRoom,
  listObjects,
  messageEl,
  openUser,
  pngFile,
  randomId,
  s3Config,
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

// Records every value the upload progress bars take.
const RECORD_PROGRESS = () => {
  window.__progress = [];
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.target.matches?.('[data-testid=upload-progress]') && r.target.hasAttribute('value')) window.__progress.push(Number(r.target.value));
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['value'] });
};

/** A gradient picture, small. */
const picture = (width, height) => pngFile(width, height, (x, y) => [(x * 255) / width, (y * 255) / height, 160]);
/** Noise: a PNG that barely compresses, to take a while at a throttled speed. */
const noisy = (width, height) => {
  const noise = randomBytes(width * height * 3);
  return pngFile(width, height, (x, y) => noise.subarray((y * width + x) * 3, (y * width + x) * 3 + 3));
};

/** Chooses files through the attach button's file chooser. */
async function attach(page, files) {
  const chooser = page.waitForEvent('filechooser');
  await page.getByTestId('attach-button').click();
  await (await chooser).setFiles(files);
}

/** The chips of the files about to be sent: [{name, state, status}]. */
function chips(page) {
  return page.getByTestId('pending-attachment').evaluateAll((nodes) =>
    nodes.map((n) => ({ name: n.dataset.name, state: n.dataset.state, status: n.querySelector('[data-testid=attachment-status]').textContent })),
  );
}

/** The width and height an <img> decoded (0 while not loaded or when it failed). */
const loaded = (img) => img.evaluate((el) => (el.complete ? [el.naturalWidth, el.naturalHeight] : [0, 0]));

async function waitLoaded(img, size, what) {
  let last = null;
  await until(
    async () => {
      last = await loaded(img);
      return last[0] === size[0] && last[1] === size[1];
    },
    { message: `${what} loaded at ${size.join('×')}` },
  ).catch((err) => {
    throw new Error(`${err.message}; decoded ${JSON.stringify(last)}`);
  });
}

/** Slows the page's uploads down (Chrome's network throttling), or lifts it (null). */
async function throttleUploads(page, bytesPerSecond) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: bytesPerSecond ?? -1,
  });
}

describe('media', () => {
  const sys = suiteSystem(undefined, { check: () => { if (!s3Config()) throw new Error('no media storage: CHILLIN_S3_ENDPOINT is not set (run ops/scripts/deps.sh and source var/deps.env)'); } });

  const pair = (prefix) => openPair(sys.browser, sys.server, prefix, { alice: { initScripts: [RECORD_CSP_VIOLATIONS, RECORD_PROGRESS] }, bob: { initScripts: [RECORD_CSP_VIOLATIONS, RECORD_PROGRESS] } });

  test('an image attachment: uploaded with a progress bar, shown inline for both users, also after a reload', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    await withScreenshots('attachment-image', async (keep) => {
      ({ alice, bob } = await pair('Pictures'));
      keep(alice.page);
      keep(bob.page, 'bob');
      const cat = noisy(400, 300); // about 350 KB
      const notes = 'Feed at 8, 13 and 19.\n';

      // Slowly enough that the progress bar moves visibly.
      await throttleUploads(alice.page, 256 * 1024);
      await attach(alice.page, [
        { name: 'cat.png', mimeType: 'image/png', buffer: cat },
        { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from(notes) },
      ]);
      await until(async () => (await chips(alice.page)).some((c) => c.name === 'cat.png' && c.state === 'uploading'), { message: 'cat.png uploading' });
      assert.equal(await alice.page.getByTestId('send-button').isDisabled(), true, 'no sending while files upload');
      assert.match(await alice.page.getByTestId('composer-note').textContent(), /^Uploading \d files?…/);
      await screenshot(alice.page, 'attachment-image-uploading');

      // One more file, cancelled while it uploads: it is not sent.
      await attach(alice.page, [{ name: 'later.zip', mimeType: 'application/zip', buffer: randomBytes(600 * 1024) }]);
      const later = alice.page.getByTestId('pending-attachment').filter({ hasText: 'later.zip' });
      await later.and(alice.page.locator('[data-state=uploading]')).waitFor({ timeout: WAIT_MS });
      await later.getByRole('button', { name: 'Cancel the upload of later.zip' }).click();
      assert.equal(await later.count(), 0, 'the cancelled file is gone');

      await until(async () => (await chips(alice.page)).every((c) => c.state === 'done'), { timeout: 60000, message: 'both uploads done' });
      await throttleUploads(alice.page, null);
      assert.deepEqual(
        (await chips(alice.page)).map((c) => [c.name, c.status]),
        [
          ['cat.png', `${Math.round(cat.length / 1024)} KB`],
          ['notes.txt', `${Buffer.byteLength(notes)} B`],
        ],
      );
      const progress = await alice.page.evaluate(() => window.__progress);
      assert.ok(
        progress.some((v) => v > 0.05 && v < 0.95),
        `the progress bar showed intermediate values: ${JSON.stringify(progress.slice(0, 20))}`,
      );
      assert.equal(await alice.page.getByTestId('composer-note').isVisible(), false);

      await send(alice.page, 'Our new cat, and how to feed her');
      assert.equal(await alice.page.getByTestId('pending-attachment').count(), 0, 'the chips leave with the message');
      for (const [who, page] of [
        ['alice', alice.page],
        ['bob', bob.page],
      ]) {
        await waitForTexts(page, ['Our new cat, and how to feed her']);
        const message = messageEl(page, 'Our new cat, and how to feed her');
        const image = message.getByTestId('attachment-image');
        assert.match(await image.getAttribute('href'), /^\/api\/files\/a\/[a-z2-7]{26}\/cat\.png$/);
        await waitLoaded(image.locator('img'), [400, 300], `${who}: the picture`);
        assert.equal(await image.locator('img').getAttribute('alt'), 'cat.png');
        const file = message.getByTestId('attachment-file');
        assert.equal(await file.getByTestId('attachment-name').textContent(), 'notes.txt');
        assert.equal(await file.getByTestId('attachment-size').textContent(), `${Buffer.byteLength(notes)} B`);
        assert.equal(await file.getAttribute('download'), 'notes.txt');
        assert.match(await file.getAttribute('href'), /^\/api\/files\/a\/[a-z2-7]{26}\/notes\.txt$/);
      }
      await until(async () => (await alice.page.locator('[data-testid=message][data-state=SENT]').count()) === 1, { message: 'SENT' });

      // The link Bob sees serves the very bytes Alice uploaded, through storage.
      const href = await messageEl(bob.page, 'Our new cat, and how to feed her').getByTestId('attachment-file').getAttribute('href');
      const download = await bob.context.request.get(href);
      assert.equal(download.status(), 200);
      assert.equal(await download.text(), notes);
      const stored = await listObjects(sys.server.bucket);
      // Each upload, and the sealed copy the message serves (ADR 0006).
      const uploaded = (prefix) => stored.filter((k) => k.startsWith(prefix) && (k.endsWith('/cat.png') || k.endsWith('/notes.txt'))).length;
      assert.equal(uploaded('a/'), 2);
      assert.equal(uploaded('s/'), 2);
      assert.equal(stored.filter((k) => k.endsWith('/later.zip')).length, 0, 'the cancelled upload never reached storage');

      // From the history after a reload.
      await bob.page.reload();
      await waitForTexts(bob.page, ['Our new cat, and how to feed her']);
      await waitLoaded(
        messageEl(bob.page, 'Our new cat, and how to feed her').getByTestId('attachment-image').locator('img'),
        [400, 300],
        'bob after a reload: the picture',
      );

      // A picture alone, without text, pasted into the composer.
      await alice.page.getByTestId('composer-input').focus();
      await alice.page.evaluate(async (bytes) => {
        const data = new DataTransfer();
        data.items.add(new File([new Uint8Array(bytes)], 'sketch.png', { type: 'image/png' }));
        document.getElementById('composer-input').dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
      }, [...picture(64, 48)]);
      await until(async () => (await chips(alice.page)).map((c) => `${c.name}:${c.state}`).join() === 'sketch.png:done', { message: 'the pasted picture up' });
      assert.equal(await alice.page.getByTestId('send-button').isEnabled(), true, 'a message of files alone can be sent');
      await alice.page.getByTestId('send-button').click();
      const alone = bob.page.locator('[data-testid=message]').filter({ has: bob.page.locator('img[alt="sketch.png"]') });
      await waitLoaded(alone.locator('img'), [64, 48], 'bob: the picture sent alone');
      assert.equal(await alone.getByTestId('message-text').count(), 0, 'no empty text under it');
    });
    await closeUsers(alice, bob);
  });

  test('files the server would refuse are stopped before uploading, with the reason', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    await withScreenshots('attachment-refused', async (keep) => {
      ({ alice, bob } = await pair('Refusals'));
      keep(alice.page);
      const asked = [];
      alice.page.on('request', (r) => r.url().endsWith('/api/uploads') && asked.push(r.url()));

      await attach(alice.page, [
        { name: 'setup.exe', mimeType: 'application/x-msdownload', buffer: Buffer.from('MZ\x90\x00') },
        { name: 'huge.png', mimeType: 'image/png', buffer: Buffer.alloc(10 * 1024 * 1024 + 1) },
      ]);
      await until(async () => (await chips(alice.page)).every((c) => c.state === 'failed'), { message: 'both refused' });
      const [exe, huge] = await chips(alice.page);
      assert.match(exe.status, /setup\.exe cannot be attached: only images \(PNG, JPEG, GIF, WebP\), PDF, plain text and ZIP files can\./);
      assert.match(huge.status, /huge\.png is 10 MB; files can be at most 10 MB\./);
      assert.deepEqual(asked, [], 'the server was not even asked');

      await alice.page.getByTestId('composer-input').fill('with broken files');
      assert.equal(await alice.page.getByTestId('send-button').isDisabled(), true);
      assert.equal(await alice.page.getByTestId('composer-note').textContent(), 'Remove the files that could not be uploaded to send the message.');
      await screenshot(alice.page, 'attachment-refused-chips');
      await alice.page.getByRole('button', { name: 'Remove setup.exe' }).click();
      await alice.page.getByRole('button', { name: 'Remove huge.png' }).click();
      assert.equal(await alice.page.getByTestId('send-button').isEnabled(), true);

      // A good file dropped on the conversation goes with the message instead.
      await alice.page.evaluate(() => {
        const data = new DataTransfer();
        data.items.add(new File(['minutes of the meeting\n'], 'minutes.txt', { type: 'text/plain' }));
        const target = document.getElementById('timeline');
        const over = new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true });
        target.dispatchEvent(over);
        if (!over.defaultPrevented) throw new Error('the conversation does not take dropped files');
        if (!document.getElementById('conversation').classList.contains('dropping')) throw new Error('no drop hint');
        target.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
      });
      assert.equal(await alice.page.locator('#conversation.dropping').count(), 0, 'the drop hint goes');
      await until(async () => (await chips(alice.page)).map((c) => `${c.name}:${c.state}`).join() === 'minutes.txt:done', { message: 'the dropped file up' });
      await alice.page.getByTestId('composer-input').press('Enter');
      await waitForTexts(bob.page, ['with broken files']);
      const files = messageEl(bob.page, 'with broken files').getByTestId('attachment-file');
      assert.deepEqual(await files.getByTestId('attachment-name').allTextContents(), ['minutes.txt'], 'only the good file went');
    });
    await closeUsers(alice, bob);
  });

  test('avatar change: uploaded from the menu, the other user sees it in the member list and beside messages', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    let bob;
    await withScreenshots('avatar', async (keep) => {
      ({ alice, bob } = await pair('Faces'));
      keep(alice.page);
      keep(bob.page, 'bob');
      await send(bob.page, 'new haircut, new picture');
      await waitForTexts(alice.page, ['new haircut, new picture']);
      const bobMember = alice.page.locator(`[data-testid=member][data-user="${bob.username}"]`);
      // Initials before (once the member list has Bob's display name).
      await until(async () => (await bobMember.locator('.avatar').textContent().catch(() => '')) === 'BO', { message: 'Bob’s initials (two letters of a one-word name)' });
      assert.equal(await bobMember.locator('.avatar img').count(), 0);

      // A PDF is refused as an avatar, with the reason.
      await bob.page.getByTestId('me-menu-toggle').click();
      let chooser = bob.page.waitForEvent('filechooser');
      await bob.page.getByTestId('change-avatar').click();
      await (await chooser).setFiles({ name: 'cv.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n') });
      await bob.page.getByTestId('toast').filter({ hasText: 'Your avatar was not changed: cv.pdf is not a PNG, JPEG, GIF or WebP image' }).waitFor({ timeout: WAIT_MS });

      await bob.page.getByTestId('me-menu-toggle').click();
      chooser = bob.page.waitForEvent('filechooser');
      await bob.page.getByTestId('change-avatar').click();
      await (await chooser).setFiles({ name: 'me.png', mimeType: 'image/png', buffer: picture(96, 96) });

      // Bob's own card, then Alice's member list and timeline, live.
      await waitLoaded(bob.page.locator('#me-avatar img'), [96, 96], 'bob: his card');
      assert.match(await bob.page.locator('#me-avatar img').getAttribute('src'), new RegExp(`^/api/files/v/${bob.username}/[a-z2-7]{26}$`));
      await waitLoaded(bobMember.locator('.avatar img'), [96, 96], 'alice: bob in the member list');
      await waitLoaded(messageEl(alice.page, 'new haircut, new picture').locator('.avatar img'), [96, 96], 'alice: bob beside his message');
      await waitLoaded(bob.page.locator(`[data-testid=member][data-user="${bob.username}"] .avatar img`), [96, 96], 'bob: himself in the member list');
      await screenshot(alice.page, 'avatar-changed');

      // And from the server after a reload.
      await alice.page.reload();
      await waitForTexts(alice.page, ['new haircut, new picture']);
      await waitLoaded(bobMember.locator('.avatar img'), [96, 96], 'alice after a reload: bob in the member list');
      assert.equal(await alice.page.locator(`[data-testid=member][data-user="${alice.username}"] .avatar img`).count(), 0, 'Alice still has her initials');
    });
    await closeUsers(alice, bob);
  });
});

describe('media without storage', () => {
  const sys = suiteSystem({ storage: false });

  test('the attach button explains that uploads are unavailable', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    await withScreenshots('attachment-no-storage', async (keep) => {
      alice = await openUser(sys.browser, sys.server, { name: 'alice' });
      keep(alice.page);
      const room = await createRoom(alice, `Offline files ${randomId()}`);
      await joinRoom(alice.page, room.id);
      await attach(alice.page, [{ name: 'cat.png', mimeType: 'image/png', buffer: picture(32, 32) }]);
      await until(async () => (await chips(alice.page))[0]?.state === 'failed', { message: 'the upload refused' });
      assert.equal((await chips(alice.page))[0].status, 'file uploads are not enabled on this server');
      const button = alice.page.getByTestId('attach-button');
      assert.equal(await button.getAttribute('data-unavailable'), 'true');
      assert.match(await button.getAttribute('title'), /^Attach files: unavailable right now\. file uploads are not enabled on this server$/);
      assert.equal(
        await alice.page.getByTestId('composer-note').textContent(),
        'File uploads are unavailable right now: file uploads are not enabled on this server',
      );
      // Chat goes on without files.
      await alice.page.getByRole('button', { name: 'Remove cat.png' }).click();
      await send(alice.page, 'text still works');
      await alice.page.locator('[data-testid=message][data-state=SENT]').waitFor({ timeout: WAIT_MS });
      assert.deepEqual(alice.errors.map(String), []);
    });
    await alice?.context.close();
  });
});
