// Modal dialogs: create a room, and enter the password of a protected room.
// Each stays open, showing the server's error, until its action succeeds.

import { roomIdFromName } from '../format.js';
import { byId } from './dom.js';

const CREATE_ERRORS = {
  ROOM_EXISTS: 'A room with that name already exists. Pick another name, or join it from the list.',
  INVALID_ROOM_NAME: 'That name cannot be used: use letters or digits.',
};

/** Wires the shared behaviour of a dialog: Cancel buttons close it, submit runs action. */
function setUp(dialog, form, errorEl, action) {
  for (const button of dialog.querySelectorAll('[data-close]')) button.addEventListener('click', () => dialog.close());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const submit = form.querySelector('[type="submit"]');
    errorEl.textContent = '';
    submit.disabled = true;
    try {
      await action();
      dialog.close();
    } catch (err) {
      errorEl.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });
}

export class CreateRoomDialog {
  #dialog = byId('create-room-dialog');
  #form = byId('create-room-form');
  #error = byId('create-room-error');
  #preview = byId('room-id-preview');
  #passwordField = byId('room-password-field');

  /** create({name, description, isPrivate, password}) creates and opens the room. */
  constructor({ create }) {
    const { name, isPrivate } = this.#form.elements;
    name.addEventListener('input', () => {
      const id = roomIdFromName(name.value);
      this.#preview.textContent = id ? `Address: #${id}` : '';
    });
    isPrivate.addEventListener('change', () => {
      this.#passwordField.hidden = !isPrivate.checked;
    });
    setUp(this.#dialog, this.#form, this.#error, async () => {
      const values = this.#values();
      if (!roomIdFromName(values.name)) throw new Error('Give the room a name with at least one letter or digit.');
      if (values.isPrivate && !values.password) throw new Error('Choose a password, or make the room public.');
      try {
        await create(values);
      } catch (err) {
        throw new Error(CREATE_ERRORS[err.code] ?? err.message);
      }
    });
  }

  open() {
    this.#form.reset();
    this.#error.textContent = '';
    this.#preview.textContent = '';
    this.#passwordField.hidden = true;
    this.#dialog.showModal();
  }

  #values() {
    const { name, description, isPrivate, password } = this.#form.elements;
    return { name: name.value.trim(), description: description.value.trim(), isPrivate: isPrivate.checked, password: password.value };
  }
}

/**
 * The app's own confirmation: ask(text, action) shows the question with
 * Cancel (focused first, and what Escape does) and the action's button;
 * resolves true when the action was chosen.
 */
export class ConfirmDialog {
  #dialog = byId('confirm-dialog');
  #text = byId('confirm-text');
  #ok = byId('confirm-ok');
  #resolve = null;

  constructor() {
    this.#dialog.addEventListener('close', () => {
      const resolve = this.#resolve;
      this.#resolve = null;
      resolve?.(this.#dialog.returnValue === 'ok');
    });
  }

  /** @returns {Promise<boolean>} */
  ask(text, action = 'OK') {
    if (this.#resolve) this.#dialog.close('cancel');
    this.#text.textContent = text;
    this.#ok.textContent = action;
    this.#dialog.returnValue = '';
    return new Promise((resolve) => {
      this.#resolve = resolve;
      this.#dialog.showModal();
    });
  }
}

export class PasswordDialog {
  #dialog = byId('password-dialog');
  #form = byId('password-form');
  #error = byId('password-error');
  #text = byId('password-text');
  #join = null;

  constructor() {
    setUp(this.#dialog, this.#form, this.#error, async () => {
      const password = this.#form.elements.password.value;
      if (!password) throw new Error('Enter the password.');
      try {
        await this.#join(password);
      } catch (err) {
        throw new Error(err.code === 'WRONG_PASSWORD' ? 'That password is not right.' : err.message);
      }
    });
  }

  /** Asks for the password of room; join(password) tries it. */
  open(room, join) {
    this.#join = join;
    this.#form.reset();
    this.#error.textContent = '';
    this.#text.textContent = `#${room.name || room.id} is protected. Enter its password to join.`;
    this.#dialog.showModal();
  }
}
