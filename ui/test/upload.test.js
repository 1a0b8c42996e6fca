import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ChatError } from '../js/errors.js';
import { checkFile, contentTypeOf, MAX_UPLOAD_BYTES, Purpose, storageError, Upload, UploadState } from '../js/upload.js';

/** A file as a browser gives it: a Blob with a name. */
function file(name, type, size) {
  const blob = new Blob([new Uint8Array(size)], { type });
  Object.defineProperty(blob, 'name', { value: name });
  return blob;
}

/** A size-only stand-in, for sizes not worth allocating. */
const sized = (name, type, size) => ({ name, type, size });

/** An XMLHttpRequest stand-in: records what is sent; tests drive its events. */
class FakeXHR {
  static all = [];
  upload = { onprogress: null };
  status = 0;
  responseText = '';
  aborted = false;
  onload = null;
  onerror = null;
  onabort = null;
  ontimeout = null;

  constructor() {
    FakeXHR.all.push(this);
  }

  open(method, url) {
    this.method = method;
    this.url = url;
  }

  send(body) {
    this.body = body;
  }

  abort() {
    this.aborted = true;
    this.onabort?.({});
  }

  progress(loaded, total) {
    this.upload.onprogress?.({ loaded, total, lengthComputable: true });
  }

  respond(status, text = '') {
    this.status = status;
    this.responseText = text;
    this.onload?.({});
  }
}

function fakeApi(answer) {
  const api = {
    calls: [],
    async createUpload(request) {
      api.calls.push(request);
      return typeof answer === 'function' ? answer(request) : answer;
    },
  };
  return api;
}

const grant = {
  url: 'http://storage.test/chillin',
  fields: { key: 'a/abcdefghijklmnopqrstuvwxyz/cat.png', policy: 'eyJ9', 'x-amz-signature': 'sig', 'Content-Type': 'image/png' },
  key: 'a/abcdefghijklmnopqrstuvwxyz/cat.png',
  expiresAt: '2030-01-01T00:05:00Z',
};

const settle = () => new Promise((resolve) => setImmediate(resolve));

function newUpload(f, api, purpose = Purpose.ATTACHMENT) {
  FakeXHR.all = [];
  const upload = new Upload({ file: f, purpose, api, createXHR: () => new FakeXHR() });
  const seen = [];
  upload.on('change', (u) => seen.push([u.state, u.loaded]));
  return { upload, seen };
}

describe('contentTypeOf', () => {
  it('uses the declared type, lowercased, without parameters, aliases resolved', () => {
    assert.equal(contentTypeOf({ name: 'a.png', type: 'image/PNG' }), 'image/png');
    assert.equal(contentTypeOf({ name: 'notes', type: 'text/plain; charset=utf-8' }), 'text/plain');
    assert.equal(contentTypeOf({ name: 'a.zip', type: 'application/x-zip-compressed' }), 'application/zip');
    assert.equal(contentTypeOf({ name: 'a.jpg', type: 'image/jpg' }), 'image/jpeg');
  });

  it('falls back to the extension when the browser gives no type', () => {
    assert.equal(contentTypeOf({ name: 'Scan.PDF', type: '' }), 'application/pdf');
    assert.equal(contentTypeOf({ name: 'photo.jpeg', type: '' }), 'image/jpeg');
    assert.equal(contentTypeOf({ name: 'README', type: '' }), '');
    assert.equal(contentTypeOf({ name: 'tool.exe', type: '' }), '');
  });
});

describe('checkFile', () => {
  const cases = [
    ['a PNG attachment', sized('cat.png', 'image/png', 2048), Purpose.ATTACHMENT, null],
    ['a PDF attachment', sized('a.pdf', 'application/pdf', 1), Purpose.ATTACHMENT, null],
    ['plain text', sized('a.txt', 'text/plain', 10), Purpose.ATTACHMENT, null],
    ['a ZIP', sized('a.zip', 'application/zip', 10), Purpose.ATTACHMENT, null],
    ['exactly 10 MiB', sized('big.png', 'image/png', MAX_UPLOAD_BYTES), Purpose.ATTACHMENT, null],
    ['one byte over 10 MiB', sized('big.png', 'image/png', MAX_UPLOAD_BYTES + 1), Purpose.ATTACHMENT, /big\.png is 10 MB; files can be at most 10 MB/],
    ['empty', sized('empty.txt', 'text/plain', 0), Purpose.ATTACHMENT, /empty\.txt is empty/],
    ['an executable', sized('setup.exe', 'application/x-msdownload', 100), Purpose.ATTACHMENT, /setup\.exe cannot be attached: only images/],
    ['an SVG (scriptable, not allowed)', sized('logo.svg', 'image/svg+xml', 100), Purpose.ATTACHMENT, /cannot be attached/],
    ['an untyped file without extension', sized('data', '', 100), Purpose.ATTACHMENT, /cannot be attached/],
    ['a JPEG avatar', sized('me.jpg', 'image/jpeg', 5000), Purpose.AVATAR, null],
    ['a PDF avatar', sized('me.pdf', 'application/pdf', 5000), Purpose.AVATAR, /me\.pdf is not a PNG, JPEG, GIF or WebP image/],
    ['an avatar over 10 MiB', sized('me.png', 'image/png', MAX_UPLOAD_BYTES + 1), Purpose.AVATAR, /at most 10 MB/],
    ['an unknown purpose', sized('a.png', 'image/png', 10), 'banner', /Unknown upload purpose "banner"/],
  ];
  for (const [name, f, purpose, want] of cases) {
    it(name, () => {
      const err = checkFile(f, purpose);
      if (want === null) {
        assert.equal(err, null);
      } else {
        assert.ok(err instanceof ChatError);
        assert.equal(err.code, 'BAD_UPLOAD');
        assert.match(err.message, want);
      }
    });
  }
});

describe('Upload', () => {
  it('asks for a presigned POST, sends the fields then the file, reports progress, resolves with the attachment', async () => {
    const api = fakeApi(grant);
    const { upload, seen } = newUpload(file('cat.png', 'image/png', 2048), api);
    assert.equal(upload.state, UploadState.CHECKING);
    const done = upload.start();
    assert.equal(upload.start(), done, 'start() twice is one upload');
    await settle();
    assert.deepEqual(api.calls, [{ filename: 'cat.png', contentType: 'image/png', size: 2048, purpose: 'attachment' }]);

    assert.equal(FakeXHR.all.length, 1);
    const xhr = FakeXHR.all[0];
    assert.equal(xhr.method, 'POST');
    assert.equal(xhr.url, grant.url);
    const entries = [...xhr.body.entries()];
    assert.deepEqual(
      entries.map(([k]) => k),
      ['key', 'policy', 'x-amz-signature', 'Content-Type', 'file'],
      'every field in order, the file last',
    );
    assert.equal(xhr.body.get('policy'), 'eyJ9');
    assert.equal(xhr.body.get('file').name, 'cat.png');
    assert.equal(xhr.body.get('file').size, 2048);
    assert.equal(upload.state, UploadState.UPLOADING);

    xhr.progress(1000, 2400);
    assert.equal(upload.loaded, 1000);
    assert.ok(Math.abs(upload.progress - 1000 / 2400) < 1e-9);
    xhr.progress(2400, 2400);
    xhr.respond(204);
    const attachment = await done;
    assert.deepEqual(attachment, { key: grant.key, name: 'cat.png', contentType: 'image/png', size: 2048 });
    assert.equal(upload.state, UploadState.DONE);
    assert.equal(upload.progress, 1);
    assert.deepEqual(seen, [
      ['uploading', 0],
      ['uploading', 1000],
      ['uploading', 2400],
      ['done', 2400],
    ]);
  });

  it('refuses a file the server would refuse without asking it', async () => {
    const api = fakeApi(grant);
    const { upload } = newUpload(file('tool.exe', 'application/x-msdownload', 10), api);
    await assert.rejects(upload.start(), { code: 'BAD_UPLOAD', message: /cannot be attached/ });
    assert.equal(upload.state, UploadState.FAILED);
    assert.equal(upload.error.code, 'BAD_UPLOAD');
    assert.equal(api.calls.length, 0);
    assert.equal(FakeXHR.all.length, 0);
  });

  it('fails with the server’s error: BAD_UPLOAD, STORAGE_UNAVAILABLE', async () => {
    for (const [code, message] of [
      ['BAD_UPLOAD', 'content type image/bmp is not allowed'],
      ['STORAGE_UNAVAILABLE', 'file storage is not reachable'],
    ]) {
      const api = fakeApi(() => {
        throw new ChatError(code, message, { status: code === 'BAD_UPLOAD' ? 400 : 503 });
      });
      const { upload } = newUpload(file('cat.png', 'image/png', 10), api);
      await assert.rejects(upload.start(), { code, message });
      assert.equal(upload.state, UploadState.FAILED);
      assert.equal(upload.error.code, code);
      assert.equal(FakeXHR.all.length, 0, 'nothing sent to storage');
    }
  });

  it('fails clearly when storage refuses the file or cannot be reached', async () => {
    const tooLarge = '<?xml version="1.0"?><Error><Code>EntityTooLarge</Code><Message>Your proposed upload exceeds the maximum allowed object size.</Message></Error>';
    let { upload } = newUpload(file('cat.png', 'image/png', 10), fakeApi(grant));
    let done = upload.start();
    await settle();
    FakeXHR.all[0].respond(400, tooLarge);
    await assert.rejects(done, { code: 'UPLOAD_FAILED', message: /too large/ });
    assert.equal(upload.state, UploadState.FAILED);

    ({ upload } = newUpload(file('cat.png', 'image/png', 10), fakeApi(grant)));
    done = upload.start();
    await settle();
    FakeXHR.all[0].onerror({});
    await assert.rejects(done, { code: 'UPLOAD_FAILED', message: /cannot be reached/ });
  });

  it('cancels while uploading: the request is aborted, the state is CANCELED', async () => {
    const { upload, seen } = newUpload(file('cat.png', 'image/png', 10), fakeApi(grant));
    const done = upload.start();
    await settle();
    FakeXHR.all[0].progress(5, 20);
    upload.cancel();
    await assert.rejects(done, { code: 'CANCELED' });
    assert.equal(FakeXHR.all[0].aborted, true);
    assert.equal(upload.state, UploadState.CANCELED);
    assert.equal(seen.at(-1)[0], 'canceled');
    upload.cancel();
    assert.equal(upload.state, UploadState.CANCELED, 'cancelling twice changes nothing');
  });

  it('cancels before storage was asked: nothing is sent once the grant arrives', async () => {
    let release;
    const api = fakeApi(() => new Promise((resolve) => (release = () => resolve(grant))));
    const { upload } = newUpload(file('cat.png', 'image/png', 10), api);
    const done = upload.start();
    await settle();
    upload.cancel();
    release();
    await assert.rejects(done, { code: 'CANCELED' });
    assert.equal(FakeXHR.all.length, 0);
    assert.equal(upload.state, UploadState.CANCELED);
  });

  it('a finished upload cannot be cancelled', async () => {
    const { upload } = newUpload(file('cat.png', 'image/png', 10), fakeApi(grant));
    const done = upload.start();
    await settle();
    FakeXHR.all[0].respond(204);
    await done;
    upload.cancel();
    assert.equal(upload.state, UploadState.DONE);
  });

  it('fails when the grant is unusable', async () => {
    const { upload } = newUpload(file('cat.png', 'image/png', 10), fakeApi({ fields: {} }));
    await assert.rejects(upload.start(), { code: 'UPLOAD_FAILED', message: /did not say where/ });
  });

  it('declares an avatar’s purpose', async () => {
    const api = fakeApi({ ...grant, key: 'v/ann/abcdefghijklmnopqrstuvwxyz' });
    const { upload } = newUpload(file('me.webp', 'image/webp', 99), api, Purpose.AVATAR);
    const done = upload.start();
    await settle();
    FakeXHR.all[0].respond(201);
    assert.equal((await done).key, 'v/ann/abcdefghijklmnopqrstuvwxyz');
    assert.equal(api.calls[0].purpose, 'avatar');
  });
});

describe('storageError', () => {
  it('reads the S3 error body', () => {
    const expired = storageError(403, '<Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired.</Message></Error>');
    assert.match(expired.message, /permission to upload expired/);
    const denied = storageError(403, '<Error><Code>AccessDenied</Code><Message>Policy Condition failed</Message></Error>');
    assert.equal(denied.message, 'Storage refused the file (Policy Condition failed).');
    assert.equal(storageError(500, '').message, 'Storage refused the file (HTTP 500).');
    assert.equal(storageError(500, '').status, 500);
  });
});
