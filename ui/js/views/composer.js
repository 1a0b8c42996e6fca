// The message box: Enter sends, Shift+Enter starts a new line; a counter
// appears near the length limit; drafts are kept per room; typing signals are
// throttled through a TypingNotifier.
//
// Files come in through the attach button, by dropping them on the
// conversation or by pasting them. Each gets a chip with its upload's
// progress and a button to cancel or remove it; the message is sent, with
// the files that are up, once no upload is still running or has failed
// (text is optional then). Pending files are kept per room, like drafts.

import { codePointLength, formatBytes, isInlineImage, MAX_MESSAGE_LENGTH, validateMessage } from '../format.js';
import { TypingNotifier } from '../typing.js';
import { ACCEPT, checkFile, MAX_ATTACHMENTS, Purpose, Upload, UploadState } from '../upload.js';
import { byId, h, icon } from './dom.js';

const COUNTER_FROM = MAX_MESSAGE_LENGTH - 200;
const MAX_HEIGHT_PX = 220;

export class Composer {
  #client;
  #api;
  #onSent;
  #notify;
  #form = byId('composer');
  #input = byId('composer-input');
  #counter = byId('char-counter');
  #send = byId('send-button');
  #attach = byId('attach-button');
  #fileInput = byId('file-input');
  #chips = byId('pending-attachments');
  #note = byId('composer-note');
  #dropZone = byId('conversation');
  #room = null;
  #label = '';
  #offline = false;
  #drafts = new Map();
  #files = new Map(); // room -> [{upload, preview}] in the order added
  #chipNodes = new Map(); // upload id -> li of the room on screen
  #storageDown = ''; // why uploads are unavailable, after the server said so
  #typing = null;
  #cleanup = [];
  #replyBar = byId('reply-bar');
  #replyText = byId('reply-bar-text');
  #replies = new Map(); // room -> the message being answered: {id, user, text}
  #onEditLast;

  /**
   * onSent(): called after a message was handed to the client; notify(text):
   * tells the user something briefly; api: the REST API (uploads).
   */
  constructor({ client, api, onSent, notify, onEditLast = () => false }) {
    this.#onEditLast = onEditLast;
    this.#client = client;
    this.#api = api;
    this.#onSent = onSent;
    this.#notify = notify;
    this.#form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.#submit();
    });
    this.#input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.#submit();
      } else if (e.key === 'ArrowUp' && this.#input.value === '' && this.#current().length === 0 && !e.isComposing) {
        // Up in an empty box edits the user's last message.
        if (this.#onEditLast()) e.preventDefault();
      } else if (e.key === 'Escape' && this.#replies.has(this.#room)) {
        e.preventDefault();
        e.stopPropagation();
        this.#setReply(null);
      }
    });
    // The message being answered is shown as it stands (edited, deleted).
    this.#cleanup.push(client.on('messages', ({ room }) => room === this.#room && this.#renderReply()));
    byId('reply-cancel').addEventListener('click', () => {
      this.#setReply(null);
      this.#input.focus();
    });
    this.#input.addEventListener('input', () => {
      this.#drafts.set(this.#room, this.#input.value);
      if (this.#input.value === '') this.#typing?.stop();
      else this.#typing?.input();
      this.#refresh();
    });
    this.#input.addEventListener('blur', () => this.#typing?.stop());
    this.#input.addEventListener('paste', (e) => {
      const files = [...(e.clipboardData?.files ?? [])];
      if (files.length === 0) return;
      e.preventDefault();
      this.addFiles(files);
    });

    this.#fileInput.accept = ACCEPT[Purpose.ATTACHMENT];
    this.#attach.addEventListener('click', () => this.#fileInput.click());
    this.#fileInput.addEventListener('change', () => {
      const files = [...this.#fileInput.files];
      this.#fileInput.value = '';
      this.addFiles(files);
      this.#input.focus();
    });

    // Dropping files anywhere on the conversation attaches them; elsewhere
    // in the window the browser must not open them instead of the app.
    this.#listen(this.#dropZone, 'dragover', (e) => {
      if (!carriesFiles(e) || this.#room === null) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
      this.#dropZone.classList.add('dropping');
    });
    this.#listen(this.#dropZone, 'dragleave', (e) => {
      if (!this.#dropZone.contains(e.relatedTarget)) this.#dropZone.classList.remove('dropping');
    });
    this.#listen(this.#dropZone, 'drop', (e) => {
      this.#dropZone.classList.remove('dropping');
      if (!carriesFiles(e) || this.#room === null) return;
      e.preventDefault();
      this.addFiles([...e.dataTransfer.files]);
      this.#input.focus();
    });
    for (const type of ['dragover', 'drop']) {
      this.#listen(window, type, (e) => {
        if (carriesFiles(e) && !e.defaultPrevented) e.preventDefault();
      });
    }
  }

  /** Shows the composer for a room (null hides it), restoring that room's draft and files. */
  show(roomId, label) {
    this.#typing?.stop();
    this.#room = roomId;
    this.#label = label;
    this.#form.hidden = roomId === null;
    this.#renderChips();
    this.#renderReply();
    if (roomId === null) {
      this.#typing = null;
      return;
    }
    this.#typing = new TypingNotifier({ send: (type) => this.#client.sendTyping(roomId, type) });
    this.#input.value = this.#drafts.get(roomId) ?? '';
    this.#placeholder();
    this.#refresh();
  }

  /** Starts a reply to a message of the room on screen. */
  replyTo(item) {
    if (this.#room === null || item.id == null) return;
    this.#setReply({ id: item.id, user: item.user, text: item.text });
    this.#input.focus();
  }

  #setReply(reply) {
    if (reply) this.#replies.set(this.#room, reply);
    else this.#replies.delete(this.#room);
    this.#renderReply();
  }

  #renderReply() {
    const reply = this.#room === null ? null : this.#replies.get(this.#room);
    this.#replyBar.hidden = !reply;
    if (!reply) return;
    const now = this.#client.room(this.#room)?.store.messageById(reply.id);
    const text = now ? now.text : reply.text;
    const snippet = now?.deleted ? 'a deleted message' : text.length > 80 ? `${text.slice(0, 80)}…` : text;
    this.#replyText.replaceChildren('Replying to ', h('strong', { text: this.#client.displayName(reply.user) }), snippet ? `: ${snippet}` : '');
  }

  /** The room's name changed (its details arrived after it was shown). */
  setLabel(label) {
    if (label === this.#label) return;
    this.#label = label;
    this.#placeholder();
  }

  setOffline(offline) {
    this.#offline = offline;
    this.#placeholder();
  }

  focus() {
    if (this.#room !== null) this.#input.focus();
  }

  /** Stops every upload and frees the previews (the session ends). */
  destroy() {
    for (const off of this.#cleanup) off();
    this.#cleanup = [];
    for (const list of this.#files.values()) {
      for (const entry of list) {
        entry.upload.cancel();
        if (entry.preview) URL.revokeObjectURL(entry.preview);
      }
    }
    this.#files.clear();
    this.show(null, '');
  }

  /** Adds files to the message being written in the room on screen and starts uploading them. */
  addFiles(files) {
    const room = this.#room;
    if (room === null || files.length === 0) return;
    const list = this.#files.get(room) ?? [];
    this.#files.set(room, list);
    const taken = files.slice(0, Math.max(0, MAX_ATTACHMENTS - list.length));
    if (taken.length < files.length) this.#notify(`A message can carry at most ${MAX_ATTACHMENTS} files.`);
    for (const file of taken) {
      const upload = new Upload({ file, purpose: Purpose.ATTACHMENT, api: this.#api });
      const preview = isInlineImage(upload.contentType) && !checkFile(file, Purpose.ATTACHMENT) ? URL.createObjectURL(file) : null;
      list.push({ upload, preview });
      upload.on('change', () => this.#onChange(room, upload));
      upload.start().then(
        () => this.#setStorageDown(''),
        (err) => {
          if (err.code === 'STORAGE_UNAVAILABLE') this.#setStorageDown(err.message);
        },
      );
    }
    this.#renderChips();
    this.#refresh();
  }

  #listen(target, type, fn) {
    target.addEventListener(type, fn);
    this.#cleanup.push(() => target.removeEventListener(type, fn));
  }

  #placeholder() {
    this.#input.placeholder = this.#offline ? `Message #${this.#label} (sent when you are back online)` : `Message #${this.#label}`;
    this.#input.setAttribute('aria-label', `Message #${this.#label}`);
  }

  /** The files of the room on screen. */
  #current() {
    return this.#room === null ? [] : (this.#files.get(this.#room) ?? []);
  }

  /** Why the message cannot be sent yet because of its files, or ''. */
  #filesBlock() {
    const uploads = this.#current().map((e) => e.upload);
    const running = uploads.filter((u) => !u.finished).length;
    if (running > 0) return `Uploading ${running} file${running === 1 ? '' : 's'}… the message can be sent once ${running === 1 ? 'it is' : 'they are'} up.`;
    if (uploads.some((u) => u.state === UploadState.FAILED)) return 'Remove the files that could not be uploaded to send the message.';
    return '';
  }

  #submit() {
    const text = this.#input.value;
    const entries = this.#current();
    if (this.#room === null || validateMessage(text, entries.length) || this.#filesBlock()) return;
    const attachments = entries.map((e) => e.upload.attachment).filter(Boolean);
    const reply = this.#replies.get(this.#room);
    this.#client.send(this.#room, text, attachments, { replyTo: reply?.id ?? null });
    this.#setReply(null);
    for (const entry of entries) if (entry.preview) URL.revokeObjectURL(entry.preview);
    this.#files.delete(this.#room);
    this.#input.value = '';
    this.#drafts.delete(this.#room);
    this.#typing.stop();
    this.#renderChips();
    this.#refresh();
    this.#onSent();
  }

  #remove(room, upload) {
    upload.cancel();
    const list = this.#files.get(room) ?? [];
    const index = list.findIndex((e) => e.upload === upload);
    if (index < 0) return;
    const [entry] = list.splice(index, 1);
    if (entry.preview) URL.revokeObjectURL(entry.preview);
    if (list.length === 0) this.#files.delete(room);
    if (room === this.#room) {
      this.#renderChips();
      this.#refresh();
      this.#input.focus();
    }
  }

  #onChange(room, upload) {
    if (room !== this.#room) return;
    const li = this.#chipNodes.get(upload.id);
    if (li) updateChip(li, upload);
    this.#refresh();
  }

  #setStorageDown(reason) {
    if (this.#storageDown === reason) return;
    this.#storageDown = reason;
    this.#attach.dataset.unavailable = String(Boolean(reason));
    this.#attach.title = reason ? `Attach files: unavailable right now. ${reason}` : 'Attach files';
    this.#refresh();
  }

  #renderChips() {
    const entries = this.#current();
    this.#chipNodes.clear();
    this.#chips.hidden = entries.length === 0;
    this.#chips.replaceChildren(
      ...entries.map(({ upload, preview }) => {
        const li = this.#chip(upload, preview);
        this.#chipNodes.set(upload.id, li);
        return li;
      }),
    );
  }

  #chip(upload, preview) {
    const room = this.#room;
    const li = h(
      'li',
      { class: 'chip', dataset: { testid: 'pending-attachment', name: upload.name } },
      preview ? this.#thumb(preview) : fileThumb(),
      h(
        'span',
        { class: 'chip-text' },
        h('span', { class: 'chip-name', text: upload.name, title: upload.name }),
        h('span', { class: 'chip-status', dataset: { testid: 'attachment-status' } }),
      ),
      h('progress', { class: 'chip-progress', max: '1', dataset: { testid: 'upload-progress' } }),
      h(
        'button',
        {
          type: 'button',
          class: 'chip-remove',
          dataset: { testid: 'attachment-remove' },
          onclick: () => this.#remove(room, upload),
        },
        icon('x'),
      ),
    );
    updateChip(li, upload);
    return li;
  }

  /** A preview of a picture; the file icon if it cannot be shown. */
  #thumb(preview) {
    const img = h('img', { class: 'chip-thumb', alt: '' });
    img.addEventListener('error', () => img.replaceWith(fileThumb()), { once: true });
    img.src = preview;
    return img;
  }

  #refresh() {
    const text = this.#input.value;
    const length = codePointLength(text);
    const left = MAX_MESSAGE_LENGTH - length;
    this.#counter.hidden = length < COUNTER_FROM;
    this.#counter.textContent = left >= 0 ? `${left} characters left` : `${-left} characters too many`;
    this.#counter.classList.toggle('over', left < 0);
    const blocked = this.#filesBlock();
    this.#send.disabled = validateMessage(text, this.#current().length) !== null || blocked !== '';
    this.#input.setAttribute('aria-invalid', String(left < 0));
    this.#input.style.height = 'auto';
    this.#input.style.height = `${Math.min(this.#input.scrollHeight, MAX_HEIGHT_PX)}px`;

    // One line under the box says what stands between the user and sending.
    let note = '';
    if (this.#storageDown) note = `File uploads are unavailable right now: ${this.#storageDown}`;
    else if (blocked) note = blocked;
    this.#note.textContent = note;
    this.#note.hidden = note === '';
    this.#note.classList.toggle('warning', Boolean(this.#storageDown));
  }
}

function fileThumb() {
  return h('span', { class: 'chip-thumb' }, icon('file'));
}

function carriesFiles(e) {
  return Boolean(e.dataTransfer && [...e.dataTransfer.types].includes('Files'));
}

/** Brings a chip up to date with its upload: state, progress, status text, remove button label. */
function updateChip(li, upload) {
  li.dataset.state = upload.state;
  const progress = li.querySelector('progress');
  progress.value = upload.progress;
  progress.hidden = upload.state !== UploadState.UPLOADING && upload.state !== UploadState.CHECKING;
  if (upload.state === UploadState.CHECKING) progress.removeAttribute('value'); // indeterminate
  progress.setAttribute('aria-label', `Uploading ${upload.name}`);
  const status = li.querySelector('.chip-status');
  switch (upload.state) {
    case UploadState.CHECKING:
      status.textContent = `${formatBytes(upload.size)} · waiting…`;
      break;
    case UploadState.UPLOADING:
      status.textContent = `${formatBytes(upload.size)} · ${Math.floor(upload.progress * 100)}%`;
      break;
    case UploadState.DONE:
      status.textContent = formatBytes(upload.size);
      break;
    default:
      status.textContent = upload.error?.message ?? 'Not uploaded.';
  }
  if (upload.state === UploadState.FAILED) status.setAttribute('role', 'alert');
  else status.removeAttribute('role');
  const remove = li.querySelector('.chip-remove');
  const verb = upload.finished ? 'Remove' : 'Cancel the upload of';
  remove.setAttribute('aria-label', `${verb} ${upload.name}`);
  remove.title = `${verb} ${upload.name}`;
}
