// Modal dialogs: create a room, and enter the password of a protected room.
// Each stays open, showing the server's error, until its action succeeds.

import { passwordProblem, plainError, Rules } from '../errors.js';
import { roomIdFromName } from '../format.js';
import { byId } from './dom.js';

const NAME_NEEDED = 'Give the room a name with at least one letter or digit.';
const PASSWORD_NEEDED = 'Choose a password, or make the room public.';

/** Wires the shared behaviour of a dialog: Cancel buttons close it, submit runs action. */
function setUp(dialog, form, errorEl, action) {
  for (const button of dialog.querySelectorAll('[data-close]')) button.addEventListener('click', () => dialog.close());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const submit = form.querySelector('[type="submit"]');
    errorEl.textContent = '';
    delete errorEl.dataset.about;
    submit.disabled = true;
    try {
      await action();
      dialog.close();
    } catch (err) {
      errorEl.textContent = err.message;
      if (err.about) errorEl.dataset.about = err.about;
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
    byId('room-password-hint').textContent = Rules.roomPassword;
    name.addEventListener('input', () => {
      const id = roomIdFromName(name.value);
      this.#preview.textContent = id ? `Address: #${id}` : '';
    });
    isPrivate.addEventListener('change', () => {
      this.#passwordField.hidden = !isPrivate.checked;
    });
    // The error goes as soon as what it was about is put right: a server's
    // refusal (the name taken) once the name changes, a rule once it holds.
    this.#form.addEventListener('input', (e) => {
      const about = this.#error.dataset.about;
      if (!about) return;
      const fixed = about === 'server' ? e.target === name : !this.#problem();
      if (fixed) {
        this.#error.textContent = '';
        delete this.#error.dataset.about;
      }
    });
    this.#form.addEventListener('change', () => {
      if (this.#error.dataset.about === 'rule' && !this.#problem()) {
        this.#error.textContent = '';
        delete this.#error.dataset.about;
      }
    });
    setUp(this.#dialog, this.#form, this.#error, async () => {
      const values = this.#values();
      const problem = this.#problem();
      if (problem) throw Object.assign(new Error(problem), { about: 'rule' });
      try {
        await create(values);
      } catch (err) {
        throw Object.assign(new Error(plainError(err)), { about: 'server' });
      }
    });
  }

  open() {
    this.#form.reset();
    this.#error.textContent = '';
    delete this.#error.dataset.about;
    this.#preview.textContent = '';
    this.#passwordField.hidden = true;
    this.#dialog.showModal();
  }

  /** What breaks the rules checked before sending, or ''. */
  #problem() {
    const values = this.#values();
    if (!roomIdFromName(values.name)) return NAME_NEEDED;
    if (values.isPrivate && !values.password) return PASSWORD_NEEDED;
    if (values.isPrivate) return passwordProblem(values.password);
    return '';
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
        throw new Error(plainError(err));
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
