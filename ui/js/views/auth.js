// The log-in / create-account screen.

import { displayNameProblem, passwordProblem, plainError, Rules, usernameProblem } from '../errors.js';
import { byId } from './dom.js';

export class AuthView {
  #api;
  #onAuthenticated;
  #screen = byId('auth-screen');
  #form = byId('auth-form');
  #error = byId('auth-error');
  #displayName = byId('display-name-field');
  #tabs = { login: byId('tab-login'), register: byId('tab-register') };
  #mode = 'login';

  /** onAuthenticated(user) is called after a successful log in or registration. */
  constructor({ api, onAuthenticated }) {
    this.#api = api;
    this.#onAuthenticated = onAuthenticated;
    this.#tabs.login.addEventListener('click', () => this.#setMode('login'));
    this.#tabs.register.addEventListener('click', () => this.#setMode('register'));
    this.#form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.#submit();
    });
    // The rules of a new account show beside its fields, before any submit.
    for (const hint of this.#form.querySelectorAll('[data-rule]')) hint.textContent = Rules[hint.dataset.rule];
    // An error about a field goes once the field is right.
    this.#form.addEventListener('input', () => {
      if (this.#error.dataset.field && !this.#problem()) this.#showError('');
    });
  }

  /** Shows the screen, with an optional note (why the user has to log in again). */
  show(note = '') {
    this.#screen.hidden = false;
    this.#error.textContent = note;
    this.#form.elements.password.value = '';
    this.#form.elements.username.focus();
  }

  hide() {
    this.#screen.hidden = true;
  }

  #setMode(mode) {
    this.#mode = mode;
    const register = mode === 'register';
    this.#tabs.login.setAttribute('aria-selected', String(!register));
    this.#tabs.register.setAttribute('aria-selected', String(register));
    this.#form.setAttribute('aria-labelledby', register ? 'tab-register' : 'tab-login');
    this.#displayName.hidden = !register;
    byId('username-hint').hidden = !register;
    byId('password-hint').hidden = !register;
    this.#form.elements.password.autocomplete = register ? 'new-password' : 'current-password';
    this.#form.querySelector('[type="submit"]').textContent = register ? 'Create account' : 'Log in';
    this.#error.textContent = '';
  }

  /** What is wrong with the form as filled in, by the rules checked before sending, or ''. */
  #problem() {
    const { username, password, displayName } = this.#form.elements;
    if (!username.value.trim() || !password.value) return this.#error.dataset.field === 'any' ? 'Enter a username and a password.' : '';
    if (this.#mode !== 'register') return '';
    return usernameProblem(username.value) || passwordProblem(password.value) || displayNameProblem(displayName.value.trim());
  }

  /** field: set when the error is about what is typed, so it can go once that is right. */
  #showError(text, field = '') {
    this.#error.textContent = text;
    if (field) this.#error.dataset.field = field;
    else delete this.#error.dataset.field;
  }

  async #submit() {
    const { username, password, displayName } = this.#form.elements;
    const name = username.value.trim().toLowerCase();
    if (!name || !password.value) {
      this.#showError('Enter a username and a password.', 'any');
      return;
    }
    const problem = this.#problem();
    if (problem) {
      this.#showError(problem, 'rule');
      return;
    }
    const submit = this.#form.querySelector('[type="submit"]');
    submit.disabled = true;
    this.#showError('');
    try {
      const user =
        this.#mode === 'register'
          ? await this.#api.register(name, password.value, displayName.value.trim())
          : await this.#api.login(name, password.value);
      password.value = '';
      this.#onAuthenticated(user);
    } catch (err) {
      this.#showError(plainError(err));
    } finally {
      submit.disabled = false;
    }
  }
}
