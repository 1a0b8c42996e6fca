// Browser tests of forms that explain themselves: the account rules shown
// before submitting and checked before anything is sent, the server's
// refusals in plain words (real ones, and codes the server only gives under
// load, answered by a route), and the create-room error gone once the input
// is right.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WAIT_MS, closeUsers, openUser, randomId, until, withScreenshots, suiteSystem } from './harness.js';

const TEST_TIMEOUT = 120000;

describe('forms', () => {
  const sys = suiteSystem();

  test('the account form shows its rules, checks them before sending, and says what the server’s refusals mean', { timeout: TEST_TIMEOUT }, async () => {
    const context = await sys.browser.newContext({ baseURL: sys.server.baseURL, viewport: { width: 1280, height: 800 } });
    try {
      await withScreenshots('account-form', async (keep) => {
        const page = await context.newPage();
        keep(page);
        const sent = [];
        page.on('request', (r) => r.url().includes('/api/auth/') && r.method() === 'POST' && sent.push(new URL(r.url()).pathname));
        await page.goto('/');
        await page.getByTestId('auth-screen').waitFor();
        const error = page.getByTestId('auth-error');
        const username = page.getByTestId('auth-username');
        const password = page.getByTestId('auth-password');
        const submit = page.getByTestId('auth-submit');

        assert.ok(await page.getByTestId('username-hint').isHidden(), 'no rules to log in');
        await page.getByTestId('auth-tab-register').click();
        assert.match(await page.getByTestId('username-hint').textContent(), /2 to 32 characters: letters, digits, _ or -/);
        assert.match(await page.getByTestId('password-hint').textContent(), /At least 8 characters/);
        assert.match(await page.getByTestId('display-name-hint').textContent(), /up to 64 characters/);
        assert.equal(await password.getAttribute('aria-describedby'), 'password-hint');

        await username.fill('x!');
        await password.fill('correct horse battery');
        await submit.click();
        assert.match(await error.textContent(), /That username cannot be used\. 2 to 32 characters/);
        await username.fill(`ok-${randomId()}`);
        await until(async () => (await error.textContent()) === '', { message: 'the error gone once the username is right' });
        await password.fill('short');
        await submit.click();
        assert.match(await error.textContent(), /too short: it needs at least 8 characters/);
        assert.deepEqual(sent, [], 'nothing sent while a rule is broken');

        // A real refusal: too many failed logins for one account.
        const victim = await openUser(sys.browser, sys.server, { name: 'victim' });
        await victim.context.close();
        await page.getByTestId('auth-tab-login').click();
        await username.fill(victim.username);
        for (let i = 0; i < 6; i++) {
          await password.fill(`wrong password ${i}`);
          await submit.click();
          await until(async () => (await error.textContent()) !== '' && !(await submit.isDisabled()), { message: `answer ${i + 1}` });
          if (i < 5) assert.equal(await error.textContent(), 'Wrong username or password.');
          else assert.match(await error.textContent(), /^Too many attempts\. Try again in \d+ minutes?\.$/);
        }

        // The refusals the server gives when busy, in plain words.
        await page.getByTestId('auth-tab-register').click();
        for (const [code, status, plain] of [
          ['SERVER_BUSY', 503, /The server is busy\. Try again in a moment\./],
          ['TIMEOUT', 503, /took too long to answer.*may exist already/],
          ['INVALID_NAME', 400, /That name cannot be used/],
        ]) {
          await page.route('**/api/auth/register', (route) =>
            route.fulfill({ status, contentType: 'application/json', body: JSON.stringify({ error: { code, message: `${code.toLowerCase()}: internal wording` } }) }),
          );
          await username.fill(`new-${randomId()}`);
          await password.fill('correct horse battery');
          await submit.click();
          await until(async () => plain.test(await error.textContent()), { message: `${code} in plain words (shown: ${await error.textContent()})` });
          assert.ok(!(await error.textContent()).includes('internal wording'));
          await page.unroute('**/api/auth/register');
        }
      });
    } finally {
      await context.close();
    }
  });

  test('the create-room dialog explains its rules and its error goes once the input is right', { timeout: TEST_TIMEOUT }, async () => {
    let alice;
    await withScreenshots('create-room-form', async (keep) => {
      alice = await openUser(sys.browser, sys.server, { name: 'alice' });
      const page = alice.page;
      keep(page);
      await page.getByTestId('new-room').click();
      const dialog = page.getByTestId('create-room-dialog');
      await dialog.waitFor();
      const error = page.getByTestId('create-room-error');
      const name = page.getByTestId('room-name');
      const submit = page.getByTestId('create-room-submit');

      await name.fill('!!!');
      await submit.click();
      assert.equal(await error.textContent(), 'Give the room a name with at least one letter or digit.');
      await name.fill('!!!a');
      await until(async () => (await error.textContent()) === '', { message: 'the name error gone once the name is valid' });

      await page.getByTestId('room-private').check();
      assert.match(await page.getByTestId('room-password-hint').textContent(), /At least 8 characters/);
      await page.getByTestId('room-password').fill('abc');
      await submit.click();
      assert.match(await error.textContent(), /too short: it needs at least 8 characters/);
      await page.getByTestId('room-password').fill('abcdefgh');
      await until(async () => (await error.textContent()) === '', { message: 'the password error gone once it is long enough' });
      await page.getByTestId('room-private').uncheck();

      // The server's refusal, in plain words, gone once the name changes.
      const taken = `Taken ${randomId()}`;
      const res = await alice.context.request.post('/api/rooms', { data: { name: taken } });
      assert.equal(res.status(), 201);
      await name.fill(taken);
      await submit.click();
      await until(async () => /already exists/.test(await error.textContent()), { message: 'ROOM_EXISTS in plain words' });
      await name.fill(`${taken} two`);
      assert.equal(await error.textContent(), '', 'gone once the name changes');
      await submit.click();
      await dialog.waitFor({ state: 'hidden', timeout: WAIT_MS });
    });
    await closeUsers(alice);
  });
});
