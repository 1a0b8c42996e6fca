// The message box: Enter sends, Shift+Enter starts a new line; a counter
// appears near the length limit; drafts are kept per room; typing signals are
// throttled through a TypingNotifier.

import { codePointLength, MAX_MESSAGE_LENGTH, validateText } from '../format.js';
import { TypingNotifier } from '../typing.js';
import { byId } from './dom.js';

const COUNTER_FROM = MAX_MESSAGE_LENGTH - 200;
const MAX_HEIGHT_PX = 220;

export class Composer {
  #client;
  #onSent;
  #form = byId('composer');
  #input = byId('composer-input');
  #counter = byId('char-counter');
  #send = byId('send-button');
  #room = null;
  #label = '';
  #offline = false;
  #drafts = new Map();
  #typing = null;

  /** onSent(): called after a message was handed to the client. */
  constructor({ client, onSent }) {
    this.#client = client;
    this.#onSent = onSent;
    this.#form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.#submit();
    });
    this.#input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.#submit();
      }
    });
    this.#input.addEventListener('input', () => {
      this.#drafts.set(this.#room, this.#input.value);
      if (this.#input.value === '') this.#typing?.stop();
      else this.#typing?.input();
      this.#refresh();
    });
    this.#input.addEventListener('blur', () => this.#typing?.stop());
  }

  /** Shows the composer for a room (null hides it), restoring that room's draft. */
  show(roomId, label) {
    this.#typing?.stop();
    this.#room = roomId;
    this.#label = label;
    this.#form.hidden = roomId === null;
    if (roomId === null) {
      this.#typing = null;
      return;
    }
    this.#typing = new TypingNotifier({ send: (type) => this.#client.sendTyping(roomId, type) });
    this.#input.value = this.#drafts.get(roomId) ?? '';
    this.#placeholder();
    this.#refresh();
  }

  setOffline(offline) {
    this.#offline = offline;
    this.#placeholder();
  }

  focus() {
    if (this.#room !== null) this.#input.focus();
  }

  #placeholder() {
    this.#input.placeholder = this.#offline ? `Message #${this.#label} (sent when you are back online)` : `Message #${this.#label}`;
    this.#input.setAttribute('aria-label', `Message #${this.#label}`);
  }

  #submit() {
    const text = this.#input.value;
    if (this.#room === null || validateText(text)) return;
    this.#client.send(this.#room, text);
    this.#input.value = '';
    this.#drafts.delete(this.#room);
    this.#typing.stop();
    this.#refresh();
    this.#onSent();
  }

  #refresh() {
    const text = this.#input.value;
    const length = codePointLength(text);
    const left = MAX_MESSAGE_LENGTH - length;
    this.#counter.hidden = length < COUNTER_FROM;
    this.#counter.textContent = left >= 0 ? `${left} characters left` : `${-left} characters too many`;
    this.#counter.classList.toggle('over', left < 0);
    this.#send.disabled = validateText(text) !== null;
    this.#input.setAttribute('aria-invalid', String(left < 0));
    this.#input.style.height = 'auto';
    this.#input.style.height = `${Math.min(this.#input.scrollHeight, MAX_HEIGHT_PX)}px`;
  }
}
