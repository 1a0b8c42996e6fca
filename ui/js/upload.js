// Uploads of attachments and avatars (PROTOCOL.md, POST /api/uploads): a
// file is checked here first (type and size, the server's rules), then the
// server hands out a presigned POST to object storage, and the browser sends
// the file straight there as multipart/form-data, every field the server
// gave first and the file last. XMLHttpRequest is used because fetch reports
// no upload progress; tests inject a fake one.

import { Emitter } from './emitter.js';
import { ChatError } from './errors.js';
import { formatBytes } from './format.js';

/** The largest file storage accepts, in bytes (10 MiB). */
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
/** The most attachments one message may carry. */
export const MAX_ATTACHMENTS = 10;

export const Purpose = Object.freeze({ ATTACHMENT: 'attachment', AVATAR: 'avatar' });

export const IMAGE_TYPES = Object.freeze(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
export const ATTACHMENT_TYPES = Object.freeze([...IMAGE_TYPES, 'application/pdf', 'text/plain', 'application/zip']);

/** What a file input may offer for each purpose (the `accept` attribute). */
export const ACCEPT = Object.freeze({
  [Purpose.ATTACHMENT]: [...ATTACHMENT_TYPES, '.png', '.jpg', '.jpeg', '.gif', '.webp', '.pdf', '.txt', '.zip'].join(','),
  [Purpose.AVATAR]: [...IMAGE_TYPES, '.png', '.jpg', '.jpeg', '.gif', '.webp'].join(','),
});

const BY_EXTENSION = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  pdf: 'application/pdf',
  txt: 'text/plain',
  zip: 'application/zip',
};

// Names some systems give the allowed types.
const ALIASES = {
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
  'application/x-zip-compressed': 'application/zip',
  'application/x-zip': 'application/zip',
};

export const UploadState = Object.freeze({
  CHECKING: 'checking', // waiting for the server's go-ahead
  UPLOADING: 'uploading',
  DONE: 'done',
  FAILED: 'failed',
  CANCELED: 'canceled',
});

/**
 * The content type to declare for a file: its own type (lowercase, without
 * parameters, common aliases resolved) or, when the browser gives none, the
 * one its extension names. '' when neither says anything.
 */
export function contentTypeOf({ name = '', type = '' }) {
  const declared = type.split(';')[0].trim().toLowerCase();
  if (declared) return ALIASES[declared] ?? declared;
  const ext = /\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase();
  return (ext && BY_EXTENSION[ext]) || '';
}

/**
 * Checks a file ({name, type, size}) against the server's rules for purpose
 * before anything is sent. Returns null, or a ChatError with code BAD_UPLOAD
 * and a sentence saying what is wrong.
 */
export function checkFile(file, purpose) {
  const name = file.name || 'The file';
  if (purpose !== Purpose.ATTACHMENT && purpose !== Purpose.AVATAR) {
    return new ChatError('BAD_UPLOAD', `Unknown upload purpose ${JSON.stringify(purpose)}`);
  }
  const type = contentTypeOf(file);
  const allowed = purpose === Purpose.AVATAR ? IMAGE_TYPES : ATTACHMENT_TYPES;
  if (!allowed.includes(type)) {
    return new ChatError(
      'BAD_UPLOAD',
      purpose === Purpose.AVATAR
        ? `${name} is not a PNG, JPEG, GIF or WebP image, so it cannot be an avatar.`
        : `${name} cannot be attached: only images (PNG, JPEG, GIF, WebP), PDF, plain text and ZIP files can.`,
    );
  }
  if (!(file.size > 0)) return new ChatError('BAD_UPLOAD', `${name} is empty.`);
  if (file.size > MAX_UPLOAD_BYTES) {
    return new ChatError('BAD_UPLOAD', `${name} is ${formatBytes(file.size)}; files can be at most ${formatBytes(MAX_UPLOAD_BYTES)}.`);
  }
  return null;
}

/**
 * One file on its way to storage. Events: 'change' (state or progress).
 * State goes CHECKING → UPLOADING → DONE, or to FAILED (error set) or
 * CANCELED from any state before DONE.
 */
export class Upload {
  static #next = 0;

  #emitter = new Emitter();
  #api;
  #createXHR;
  #xhr = null;
  #started = null;

  /** A number unique in this page, to key views by. */
  id = ++Upload.#next;
  file;
  purpose;
  name;
  size;
  contentType;
  state = UploadState.CHECKING;
  /** Bytes sent so far, of `total` (the request body, a little more than the file). */
  loaded = 0;
  total = 0;
  /** A ChatError once FAILED. */
  error = null;
  /** {key, name, contentType, size} once DONE: what a message or avatar refers to. */
  attachment = null;

  /**
   * file: a File (or Blob with a name); purpose: Purpose.*; api: an Api
   * (createUpload); createXHR: makes an XMLHttpRequest.
   */
  constructor({ file, purpose, api, createXHR = () => new XMLHttpRequest() }) {
    this.file = file;
    this.purpose = purpose;
    this.name = file.name || 'file';
    this.size = file.size;
    this.contentType = contentTypeOf(file);
    this.#api = api;
    this.#createXHR = createXHR;
  }

  on(name, fn) {
    return this.#emitter.on(name, fn);
  }

  /** The fraction sent, 0..1. */
  get progress() {
    if (this.state === UploadState.DONE) return 1;
    return this.total > 0 ? Math.min(1, this.loaded / this.total) : 0;
  }

  get finished() {
    return this.state === UploadState.DONE || this.state === UploadState.FAILED || this.state === UploadState.CANCELED;
  }

  /**
   * Checks, asks for the presigned POST and sends the file. Resolves with
   * the attachment once stored; rejects with a ChatError (code CANCELED when
   * cancelled). Calling it again returns the same promise.
   */
  start() {
    this.#started ??= this.#run();
    return this.#started;
  }

  /** Stops the upload (nothing happens once it is DONE or has failed). */
  cancel() {
    if (this.finished) return;
    this.#xhr?.abort();
    this.#finish(UploadState.CANCELED, new ChatError('CANCELED', 'The upload was cancelled.'));
  }

  async #run() {
    const invalid = checkFile(this.file, this.purpose);
    if (invalid) throw this.#fail(invalid);
    let grant;
    try {
      grant = await this.#api.createUpload({ filename: this.name, contentType: this.contentType, size: this.size, purpose: this.purpose });
    } catch (err) {
      if (this.state === UploadState.CANCELED) throw this.error;
      throw this.#fail(err instanceof ChatError ? err : new ChatError('UPLOAD_FAILED', String(err?.message ?? err)));
    }
    if (this.state === UploadState.CANCELED) throw this.error;
    if (!grant || typeof grant.url !== 'string' || typeof grant.key !== 'string') {
      throw this.#fail(new ChatError('UPLOAD_FAILED', 'The server did not say where to upload the file.'));
    }
    this.state = UploadState.UPLOADING;
    this.total = this.size;
    this.#changed();
    await this.#post(grant);
    this.attachment = { key: grant.key, name: this.name, contentType: this.contentType, size: this.size };
    this.#finish(UploadState.DONE, null);
    return this.attachment;
  }

  #post({ url, fields = {} }) {
    return new Promise((resolve, reject) => {
      const form = new FormData();
      for (const [name, value] of Object.entries(fields)) form.append(name, value);
      form.append('file', this.file, this.name);
      const xhr = this.#createXHR();
      this.#xhr = xhr;
      xhr.upload.onprogress = (e) => {
        if (this.state !== UploadState.UPLOADING) return;
        this.loaded = e.loaded;
        if (e.lengthComputable && e.total > 0) this.total = e.total;
        this.#changed();
      };
      xhr.onload = () => {
        if (this.state === UploadState.CANCELED) return reject(this.error);
        if (xhr.status >= 200 && xhr.status < 300) return resolve();
        reject(this.#fail(storageError(xhr.status, xhr.responseText)));
      };
      xhr.onerror = () => reject(this.#fail(new ChatError('UPLOAD_FAILED', 'The upload failed: file storage cannot be reached.')));
      xhr.ontimeout = () => reject(this.#fail(new ChatError('UPLOAD_FAILED', 'The upload took too long and was stopped.')));
      xhr.onabort = () => reject(this.error ?? new ChatError('CANCELED', 'The upload was cancelled.'));
      xhr.open('POST', url);
      xhr.send(form);
    });
  }

  #fail(error) {
    if (this.state !== UploadState.CANCELED) this.#finish(UploadState.FAILED, error);
    return this.error;
  }

  #finish(state, error) {
    if (this.finished) return;
    this.state = state;
    this.error = error;
    this.#xhr = null;
    this.#changed();
  }

  #changed() {
    this.#emitter.emit('change', this);
  }
}

/**
 * The error for a refused upload, from the S3-style XML body storage answers
 * with (<Error><Code>…</Code><Message>…</Message></Error>).
 */
export function storageError(status, body = '') {
  const tag = (name) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(body)?.[1]?.trim() ?? '';
  const code = tag('Code');
  const message = tag('Message');
  if (code === 'EntityTooLarge') return new ChatError('UPLOAD_FAILED', 'Storage refused the file: it is too large.');
  if (code === 'EntityTooSmall') return new ChatError('UPLOAD_FAILED', 'Storage refused the file: it is empty.');
  if (code === 'AccessDenied' && /expired/i.test(message)) {
    return new ChatError('UPLOAD_FAILED', 'The permission to upload expired before the file arrived. Try again.');
  }
  const detail = message || code || `HTTP ${status}`;
  return new ChatError('UPLOAD_FAILED', `Storage refused the file (${detail}).`, { status });
}
