// Harness of the browser tests: runs the real all-in-one server (embedded NATS
// JetStream, the machine's Postgres and Redis) as a child process with a
// private database, Redis prefix and data folder, and drives Debian's
// Chromium through playwright-core.
//
// Environment:
//   CHILLIN_UI_BINARY          the all-in-one binary (ops/scripts/ui-test.sh builds it);
//                              unset: it is built once into a temporary folder
//   CHILLIN_POSTGRES_URL       any database URL of the Postgres to use (its host and
//                              credentials are kept; the database name is replaced)
//   CHILLIN_TEST_POSTGRES_URL  where to drop the private databases afterwards (psql)
//   CHILLIN_REDIS_URL          the Redis to use
//   CHILLIN_S3_ENDPOINT, CHILLIN_S3_ACCESS_KEY, CHILLIN_S3_SECRET_KEY, CHILLIN_S3_SECURE
//                              media storage (ops/scripts/deps.sh starts a MinIO); each
//                              server gets a bucket of its own, removed at the end
//   CHILLIN_CHROMIUM           the browser (default /usr/bin/chromium)

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { execFile, spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const run = promisify(execFile);

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const OUTPUT = join(REPO, 'test-output', 'ui');

const CHROMIUM = process.env.CHILLIN_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

/** Default wait for a condition in the page. */
export const WAIT_MS = 15000;

export function randomId(n = 6) {
  return randomBytes(n).toString('hex').slice(0, n);
}

/** A TCP port nothing listens on right now (the kernel's pick for port 0). */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

let built = null;

/** The all-in-one binary: CHILLIN_UI_BINARY, or built once per test process. */
export function chillinBinary() {
  if (process.env.CHILLIN_UI_BINARY) return Promise.resolve(process.env.CHILLIN_UI_BINARY);
  built ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chillin-ui-bin-'));
    const bin = join(dir, 'chillin');
    await run('go', ['build', '-o', bin, './ops/cmd/chillin'], { cwd: REPO, maxBuffer: 1 << 24 });
    return bin;
  })();
  return built;
}

function postgresURL(database) {
  const base = process.env.CHILLIN_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/chillin?sslmode=disable';
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * One private Chillin: its own port, JetStream folder, database and Redis
 * prefix. stop() (SIGTERM) or kill() (SIGKILL) it, then start() it again on
 * the same port with the same data; close() removes everything.
 */
export class ChillinServer {
  #env;
  #storage;
  #child = null;
  #exited = null;
  #log = [];
  port = 0;
  dataDir = '';
  database = '';
  redisPrefix = '';
  /** The server's media bucket; '' when it runs without storage. */
  bucket = '';

  /**
   * env: extra CHILLIN_* variables (e.g. a rate limit). storage: false runs
   * the server without media storage, whatever the environment says.
   */
  constructor({ env = {}, storage = true } = {}) {
    this.#env = env;
    this.#storage = storage;
  }

  get baseURL() {
    return `http://127.0.0.1:${this.port}`;
  }

  get running() {
    return this.#child !== null;
  }

  /** The server's output so far (kept for failure messages). */
  get log() {
    return this.#log.join('');
  }

  async start() {
    if (this.#child) throw new Error('server already running');
    if (!this.port) {
      this.port = await freePort();
      this.dataDir = await mkdtemp(join(tmpdir(), 'chillin-ui-data-'));
      const id = randomId(10);
      this.database = `chillin_ui_${id}`;
      this.redisPrefix = `ui${id}:`;
      if (this.#storage && s3Config()) this.bucket = `chillin-ui-${id}`;
    }
    const bin = await chillinBinary();
    const env = {
      ...process.env,
      CHILLIN_HTTP_ADDR: `127.0.0.1:${this.port}`,
      CHILLIN_DATA_DIR: this.dataDir,
      CHILLIN_POSTGRES_URL: postgresURL(this.database),
      CHILLIN_REDIS_URL: process.env.CHILLIN_REDIS_URL || 'redis://127.0.0.1:6379/0',
      CHILLIN_REDIS_PREFIX: this.redisPrefix,
      CHILLIN_LOG_FORMAT: 'text',
      // Every test user registers from this machine's one address.
      CHILLIN_REGISTER_LIMIT: '100000',
      // The server creates its bucket at start; without storage it answers uploads with 503.
      CHILLIN_S3_ENDPOINT: this.bucket ? process.env.CHILLIN_S3_ENDPOINT : '',
      CHILLIN_S3_BUCKET: this.bucket,
      ...this.#env,
    };
    const child = spawn(bin, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk) => {
      this.#log.push(chunk.toString());
      if (this.#log.length > 2000) this.#log.splice(0, 1000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    this.#child = child;
    this.#exited = new Promise((ok) => child.on('exit', (code, signal) => ok({ code, signal })));
    this.#exited.then(() => {
      if (this.#child === child) this.#child = null;
    });
    await this.#waitHealthy(child);
  }

  async #waitHealthy(child) {
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline) {
      if (this.#child !== child) throw new Error(`chillin exited while starting:\n${this.log.slice(-4000)}`);
      try {
        const res = await fetch(`${this.baseURL}/health`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await delay(100);
    }
    throw new Error(`chillin did not answer /health within 60 s:\n${this.log.slice(-4000)}`);
  }

  /** Graceful stop (SIGTERM), SIGKILL after 20 s. */
  async stop() {
    await this.#signal('SIGTERM', 20000);
  }

  /** A crash: SIGKILL. */
  async kill() {
    await this.#signal('SIGKILL', 10000);
  }

  async #signal(signal, graceMs) {
    const child = this.#child;
    if (!child) return;
    const exited = this.#exited;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the server and removes its data folder, database and Redis keys. */
  async close() {
    await this.stop();
    if (this.dataDir) await rm(this.dataDir, { recursive: true, force: true });
    if (this.database) await dropDatabase(this.database);
    if (this.redisPrefix) await dropRedisKeys(this.redisPrefix);
    if (this.bucket) await dropBucket(this.bucket);
  }
}

/** The media storage of the environment, or null when none is configured. */
export function s3Config() {
  const endpoint = process.env.CHILLIN_S3_ENDPOINT;
  if (!endpoint) return null;
  const secure = /^https:/.test(endpoint) || process.env.CHILLIN_S3_SECURE === 'true';
  const origin = endpoint.includes('://') ? new URL(endpoint).origin : `${secure ? 'https' : 'http'}://${endpoint}`;
  return {
    origin,
    accessKey: process.env.CHILLIN_S3_ACCESS_KEY ?? '',
    secretKey: process.env.CHILLIN_S3_SECRET_KEY ?? '',
    region: process.env.CHILLIN_S3_REGION || 'us-east-1',
  };
}

/**
 * One request to S3 signed with AWS Signature Version 4 (path-style, empty
 * body): enough to list a bucket and delete what a test left in it.
 */
export async function s3Request(method, path, query = {}) {
  const s3 = s3Config();
  if (!s3) throw new Error('no media storage configured (CHILLIN_S3_ENDPOINT)');
  const url = new URL(s3.origin);
  const now = new Date();
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const emptyHash = createHash('sha256').update('').digest('hex');
  const encode = (v) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const canonicalPath = path.split('/').map(encode).join('/');
  const canonicalQuery = Object.keys(query)
    .sort()
    .map((k) => `${encode(k)}=${encode(query[k])}`)
    .join('&');
  const headers = { host: url.host, 'x-amz-content-sha256': emptyHash, 'x-amz-date': amzDate };
  const signed = Object.keys(headers).sort();
  const canonical = [method, canonicalPath, canonicalQuery, ...signed.map((h) => `${h}:${headers[h]}`), '', signed.join(';'), emptyHash].join('\n');
  const scope = `${day}/${s3.region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const hmac = (key, data) => createHmac('sha256', key).update(data).digest();
  const key = ['s3', 'aws4_request'].reduce(hmac, hmac(hmac(`AWS4${s3.secretKey}`, day), s3.region));
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  const res = await fetch(`${s3.origin}${canonicalPath}${canonicalQuery ? `?${canonicalQuery}` : ''}`, {
    method,
    headers: {
      'x-amz-content-sha256': emptyHash,
      'x-amz-date': amzDate,
      authorization: `AWS4-HMAC-SHA256 Credential=${s3.accessKey}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${signature}`,
    },
  });
  return { status: res.status, body: await res.text() };
}

/** The keys of the objects in a bucket. */
export async function listObjects(bucket) {
  const keys = [];
  let token = '';
  for (;;) {
    const query = { 'list-type': '2', ...(token ? { 'continuation-token': token } : {}) };
    const { status, body } = await s3Request('GET', `/${bucket}`, query);
    if (status === 404 && body.includes('NoSuchBucket')) return keys; // never created (the server did not start)
    if (status !== 200) throw new Error(`list bucket ${bucket}: HTTP ${status} ${body.slice(0, 300)}`);
    for (const m of body.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(xmlText(m[1]));
    token = /<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(body)?.[1] ?? '';
    if (!token) return keys;
    token = xmlText(token);
  }
}

function xmlText(s) {
  return s.replace(/&(lt|gt|quot|apos|amp);/g, (_, e) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e]);
}

async function dropBucket(bucket) {
  try {
    for (const key of await listObjects(bucket)) await s3Request('DELETE', `/${bucket}/${key}`);
    const { status, body } = await s3Request('DELETE', `/${bucket}`);
    if (status !== 204 && status !== 404) throw new Error(`HTTP ${status} ${body.slice(0, 300)}`);
  } catch (err) {
    console.warn(`could not remove bucket ${bucket}: ${err.message}`);
  }
}

async function dropDatabase(name) {
  const admin = process.env.CHILLIN_TEST_POSTGRES_URL;
  if (!admin) return;
  try {
    await run('psql', [admin, '-q', '-v', 'ON_ERROR_STOP=1', '-c', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`]);
  } catch (err) {
    console.warn(`could not drop database ${name}: ${err.message}`);
  }
}

async function dropRedisKeys(prefix) {
  const url = process.env.CHILLIN_REDIS_URL || 'redis://127.0.0.1:6379/0';
  try {
    const { stdout } = await run('redis-cli', ['-u', url, '--scan', '--pattern', `${prefix}*`], { maxBuffer: 1 << 24 });
    const keys = stdout.split('\n').filter(Boolean);
    for (let i = 0; i < keys.length; i += 500) await run('redis-cli', ['-u', url, 'DEL', ...keys.slice(i, i + 500)]);
  } catch {
    // No redis-cli here: the keys stay (they are under a prefix of their own).
  }
}

export function delay(ms) {
  return new Promise((ok) => setTimeout(ok, ms));
}

/**
 * One suite's system: a server and a browser, started before the suite's
 * tests and closed after them; tests read `sys.server` and `sys.browser`.
 * check, if given, runs first and may throw to fail the suite with a reason.
 * @param {ConstructorParameters<typeof ChillinServer>[0]} [options]
 * @param {{ check?: () => void }} [hooks]
 */
export function suiteSystem(options, { check } = {}) {
  const sys = { server: new ChillinServer(options), browser: /** @type {import('playwright-core').Browser | undefined} */ (undefined) };
  before(async () => {
    check?.();
    await sys.server.start();
    sys.browser = await launchBrowser();
  });
  after(async () => {
    await sys.browser?.close();
    await sys.server.close();
  });
  return sys;
}

/** Polls fn until it returns a truthy value; throws with message after timeout. */
export async function until(fn, { timeout = WAIT_MS, interval = 50, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${message} (last: ${detail})`);
    }
    await delay(interval);
  }
}

export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

/**
 * A user in a fresh browser context: registered over REST within the
 * context (so its cookie jar holds the session), with the app open and
 * connected. clock: install Playwright's controllable clock before the app loads;
 * setup(context): runs before the app loads (routes, WebSocket interception);
 * contextOptions: more for the browser context (a phone: viewport, hasTouch, isMobile).
 */
export async function openUser(browser, server, { name = 'user', displayName, clock = false, initScripts = [], setup, contextOptions = {} } = {}) {
  const username = `${name}-${randomId(6)}`;
  const context = await browser.newContext({ baseURL: server.baseURL, viewport: { width: 1280, height: 800 }, ...contextOptions });
  for (const script of initScripts) await context.addInitScript(script);
  if (setup) await setup(context);
  const res = await context.request.post('/api/auth/register', {
    data: { username, password: 'correct horse battery', displayName: displayName ?? `${name[0].toUpperCase()}${name.slice(1)}` },
  });
  if (res.status() !== 201) throw new Error(`register ${username}: ${res.status()} ${await res.text()}`);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err));
  if (clock) await page.clock.install();
  await page.goto('/');
  await waitState(page, 'CONNECTED');
  return { username, context, page, errors };
}

/**
 * Opens alice and bob (each opts.alice / opts.bob as openUser takes them) and
 * a fresh room named after roomName that both have joined.
 */
export async function openPair(browser, server, roomName, { alice: a = {}, bob: b = {} } = {}) {
  const alice = await openUser(browser, server, { name: 'alice', ...a });
  const bob = await openUser(browser, server, { name: 'bob', ...b });
  const room = await createRoom(alice, `${roomName} ${randomId()}`);
  await joinRoom(alice.page, room.id);
  await joinRoom(bob.page, room.id);
  return { alice, bob, room };
}

/**
 * Checks that each user's page threw no uncaught error and, where
 * violations are recorded (RECORD_CSP_VIOLATIONS), broke no
 * Content-Security-Policy rule; then closes it.
 */
export async function closeUsers(...users) {
  for (const u of users) {
    if (!u) continue;
    assert.deepEqual(u.errors.map(String), [], `uncaught errors in ${u.username}'s page`);
    assert.deepEqual(await u.page.evaluate(() => window.__csp ?? []), [], `no Content-Security-Policy violation in ${u.username}'s page`);
    await u.context.close();
  }
}

/** Creates a room over REST as the context's user (who joins it). */
export async function createRoom(user, name, extra = {}) {
  const res = await user.context.request.post('/api/rooms', { data: { name, ...extra } });
  if (res.status() !== 201) throw new Error(`create room ${name}: ${res.status()} ${await res.text()}`);
  return (await res.json()).room;
}

/**
 * Opens a room in the app: from the Discover list (when the room is not in
 * it, the page is reloaded and the room searched for), then waits until it
 * is joined and on screen.
 */
export async function joinRoom(page, roomId) {
  // On a narrow screen the room lists are in a drawer: open it first.
  const menu = page.getByTestId('menu-toggle');
  if (await menu.isVisible()) {
    await menu.click();
    await page.getByTestId('room-search').waitFor({ state: 'visible' });
  }
  const open = page.locator(`[data-testid=room-item][data-room="${roomId}"]`);
  if ((await open.count()) === 0) {
    const discover = page.locator(`[data-testid=discover-room][data-room="${roomId}"]`);
    // The directory is fetched on connect and every 30 s: reload it through the
    // page when the room was created after that.
    if ((await discover.count()) === 0) {
      // The list is a projection of the log: wait until it has the room.
      await until(
        async () => {
          const res = await page.context().request.get(`/api/rooms?q=${encodeURIComponent(roomId)}`);
          return res.ok() && (await res.json()).rooms.some((r) => r.id === roomId);
        },
        { message: `room ${roomId} in GET /api/rooms` },
      );
      await reloadAndSearch(page, menu, roomId);
    }
    // A room this user created moves from Discover to their rooms when the
    // membership arrives, which may be while the click waits on it; on a
    // loaded machine it may reach neither list for a while: then reload, as
    // a user would, and the page reads the user's rooms again.
    try {
      await clickEither(open, discover, 5000);
    } catch {
      await reloadAndSearch(page, menu, roomId);
      await clickEither(open, discover);
    }
  } else {
    await open.click();
  }
  await page.locator(`[data-testid=room-item][data-room="${roomId}"][data-state=joined][aria-current=page]`).waitFor({ state: 'attached', timeout: WAIT_MS });
  await page.getByTestId('composer-input').waitFor({ state: 'visible', timeout: WAIT_MS });
}

/**
 * Reloads the page, so that it reads the room lists again, and searches
 * Discover for roomId: it shows a page of rooms at a time.
 */
async function reloadAndSearch(page, menu, roomId) {
  await page.reload();
  await waitState(page, 'CONNECTED');
  if (await menu.isVisible()) await menu.click();
  await page.getByTestId('room-search').fill(roomId);
}

/** Clicks whichever of two locators is on the page, looking again if it goes. */
async function clickEither(a, b, timeout = WAIT_MS) {
  await until(
    async () => {
      // A click that fails (the item detached while clicked) is thrown:
      // until looks again, and names it if none succeeds.
      for (const l of [a, b]) {
        if ((await l.count()) > 0) {
          await l.click({ timeout: 2000 });
          return true;
        }
      }
      return false;
    },
    { message: 'the room in one of the lists', timeout },
  );
}

export async function waitState(page, state, timeout = WAIT_MS) {
  await page.locator(`[data-testid=conn-status][data-state=${state}]`).waitFor({ timeout });
}

export async function connState(page) {
  return page.getByTestId('conn-status').getAttribute('data-state');
}

/** Types a message into the composer and presses Enter. */
export async function send(page, text) {
  const input = page.getByTestId('composer-input');
  await input.fill(text);
  await input.press('Enter');
}

/** The message elements in the room on screen: text, state, ids, author. */
export function messages(page) {
  return page.$$eval('[data-testid=message]', (nodes) =>
    nodes.map((n) => ({
      text: n.querySelector('[data-testid=message-text]')?.textContent ?? '',
      state: n.dataset.state,
      id: n.dataset.id,
      clientId: n.dataset.clientId,
      user: n.dataset.user,
    })),
  );
}

/** The message element showing exactly `text`. */
export function messageEl(page, text) {
  return page.locator('[data-testid=message]').filter({
    has: page.getByTestId('message-text').getByText(text, { exact: true }),
  });
}

/** Waits until each text shows in the room on screen (SENT, as far as this page knows). */
export async function waitForTexts(page, texts, { timeout = WAIT_MS } = {}) {
  await until(
    async () => {
      const shown = new Set((await messages(page)).map((m) => m.text));
      return texts.every((t) => shown.has(t));
    },
    { timeout, message: `messages ${JSON.stringify(texts)}` },
  );
}

/** How many message elements show each text. */
export async function countTexts(page, texts) {
  const counts = Object.fromEntries(texts.map((t) => [t, 0]));
  for (const m of await messages(page)) if (m.text in counts) counts[m.text] += 1;
  return counts;
}

/** A phone, for browser.newContext: a small touch screen. */
export const PHONE = Object.freeze({ viewport: { width: 390, height: 780 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2 });

const AXE_SOURCE = join(REPO, 'ui', 'node_modules', 'axe-core', 'axe.min.js');

/**
 * Runs axe-core (injected through the DevTools protocol, which the page's
 * Content-Security-Policy does not govern) on the page as it is, in the light
 * and the dark scheme, and fails on any serious or critical violation,
 * naming each with its elements.
 */
export async function assertAccessible(page, screen) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(await readFile(AXE_SOURCE, 'utf8'));
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    assert.deepEqual(await axeViolations(page), [], `accessibility of ${screen}, ${scheme}`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

async function axeViolations(page) {
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join(' | ')}`);
  });
}

/**
 * Saves screenshots of the page for review, in the light and the dark
 * scheme: test-output/ui/screens/<name>-<light|dark>-<device>.png.
 */
export async function screensInBothSchemes(page, name, device) {
  const dir = join(OUTPUT, 'screens');
  await mkdir(dir, { recursive: true });
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.screenshot({ path: join(dir, `${name}-${scheme}-${device}.png`) });
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

/** Saves a screenshot of the page as test-output/ui/<name>.png. */
export async function screenshot(page, name) {
  await mkdir(OUTPUT, { recursive: true });
  const path = join(OUTPUT, `${name.replace(/[^a-z0-9._-]+/gi, '-')}.png`);
  try {
    await page.screenshot({ path });
  } catch (err) {
    console.warn(`screenshot ${name}: ${err.message}`);
  }
  return path;
}

/**
 * Runs a browser test body and always saves the screenshots: shots() names the
 * pages to keep ({suffix: page}); the first one is saved as <name>.png.
 */
export async function withScreenshots(name, body) {
  const pages = [];
  const keep = (page, suffix = '') => pages.push({ page, suffix });
  try {
    await body(keep);
  } finally {
    for (const { page, suffix } of pages) {
      if (!page.isClosed()) await screenshot(page, suffix ? `${name}-${suffix}` : name);
    }
  }
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A real PNG file (8-bit RGB): each pixel from pixel(x, y) -> [r, g, b].
 * Noise makes it large (it barely compresses); a flat colour makes it tiny.
 */
export function pngFile(width, height, pixel) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    raw[row] = 0; // filter: none
    for (let x = 0; x < width; x++) raw.set(pixel(x, y), row + 1 + x * 3);
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit, RGB, deflate, no filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Records every Content-Security-Policy violation in the page, in window.__csp. */
export const RECORD_CSP_VIOLATIONS = () => {
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
};
