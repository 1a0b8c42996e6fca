// The log-in / create-account screen.

import { byId } from './dom.js';

const ERRORS = {
  INVALID_CREDENTIALS: 'Wrong username or password.',
  USERNAME_TAKEN: 'That username is taken. Try another one.',
  NETWORK: 'Chillin cannot be reached. Check your connection and try again.',
};

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
    this.#form.elements.password.autocomplete = register ? 'new-password' : 'current-password';
    this.#form.querySelector('[type="submit"]').textContent = register ? 'Create account' : 'Log in';
    this.#error.textContent = '';
  }

  async #submit() {
    const { username, password, displayName } = this.#form.elements;
    const name = username.value.trim().toLowerCase();
    if (!name || !password.value) {
      this.#error.textContent = 'Enter a username and a password.';
      return;
    }
    const submit = this.#form.querySelector('[type="submit"]');
    submit.disabled = true;
    this.#error.textContent = '';
    try {
      const user =
        this.#mode === 'register'
          ? await this.#api.register(name, password.value, displayName.value.trim())
          : await this.#api.login(name, password.value);
      password.value = '';
      this.#onAuthenticated(user);
    } catch (err) {
      this.#error.textContent = ERRORS[err.code] ?? err.message;
    } finally {
      submit.disabled = false;
    }
  }
}
