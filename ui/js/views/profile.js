// The user's own card at the foot of the sidebar: avatar, names, status dot,
// and its menu: the status others see (online, away, busy) and "Change
// avatar", which uploads an image and makes it the avatar everywhere.

import { STATUSES } from '../client.js';
import { ACCEPT, Purpose, Upload, UploadState } from '../upload.js';
import { avatar, byId } from './dom.js';

const STATUS_LABEL = { online: 'Online', away: 'Away', busy: 'Busy' };

export class ProfileMenu {
  #client;
  #api;
  #notify;
  #user;
  #card = byId('me');
  #toggle = byId('me-menu-toggle');
  #menu = byId('me-menu');
  #name = byId('me-name');
  #handle = byId('me-handle');
  #statusText = byId('me-status');
  #changeAvatar = byId('change-avatar');
  #avatarInput = byId('avatar-input');
  #progress = byId('avatar-progress');
  #avatar = null;
  #upload = null;
  #cleanup = [];

  /** user: the logged-in user object; notify(text): tells the user something briefly. */
  constructor({ client, api, user, notify }) {
    this.#client = client;
    this.#api = api;
    this.#user = user;
    this.#notify = notify;
    this.#avatar = byId('me-avatar');
    this.#avatarInput.accept = ACCEPT[Purpose.AVATAR];

    this.#toggle.addEventListener('click', () => this.#setOpen(this.#menu.hidden));
    for (const item of this.#menu.querySelectorAll('[data-status]')) {
      item.addEventListener('click', () => {
        this.#setOpen(false);
        if (this.#client.setStatus(item.dataset.status)) this.render();
      });
    }
    this.#changeAvatar.addEventListener('click', () => {
      this.#setOpen(false);
      this.#avatarInput.click();
    });
    this.#avatarInput.addEventListener('change', () => {
      const [file] = this.#avatarInput.files;
      this.#avatarInput.value = '';
      if (file) this.#uploadAvatar(file);
    });
    this.#menu.addEventListener('keydown', (e) => this.#onMenuKey(e));
    this.#listen(document, 'pointerdown', (e) => {
      if (!this.#menu.hidden && !this.#card.contains(e.target)) this.#setOpen(false);
    });
    this.#listen(document, 'keydown', (e) => {
      if (e.key === 'Escape' && !this.#menu.hidden) {
        this.#setOpen(false);
        this.#toggle.focus();
      }
    });
    this.#cleanup.push(
      client.on('profile', ({ user: id }) => id === user.username && this.render()),
      client.on('members', () => this.render()),
    );
    this.render();
  }

  destroy() {
    for (const off of this.#cleanup) off();
    this.#cleanup = [];
    this.#upload?.cancel();
  }

  render() {
    const me = this.#user.username;
    const name = this.#client.displayName(me) || this.#user.displayName || me;
    const url = this.#client.avatarUrl(me);
    if (this.#avatar.dataset.url !== url || this.#avatar.dataset.name !== name) {
      const next = avatar(me, name, 'me-avatar', url);
      next.id = 'me-avatar';
      next.dataset.testid = 'me-avatar';
      next.dataset.url = url;
      next.dataset.name = name;
      this.#avatar.replaceWith(next);
      this.#avatar = next;
    }
    const status = this.#client.myStatus;
    this.#card.dataset.status = status;
    this.#name.textContent = name;
    this.#handle.textContent = `@${me}`;
    this.#statusText.textContent = STATUS_LABEL[status];
    for (const item of this.#menu.querySelectorAll('[data-status]')) {
      item.setAttribute('aria-checked', String(item.dataset.status === status));
    }
  }

  #listen(target, type, fn) {
    target.addEventListener(type, fn);
    this.#cleanup.push(() => target.removeEventListener(type, fn));
  }

  #setOpen(open) {
    this.#menu.hidden = !open;
    this.#toggle.setAttribute('aria-expanded', String(open));
    if (open) this.#menu.querySelector('[aria-checked=true]')?.focus();
  }

  /** Up and down move through the menu's items. */
  #onMenuKey(e) {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    e.preventDefault();
    const items = [...this.#menu.querySelectorAll('[role^=menuitem]')];
    const index = items.indexOf(document.activeElement);
    const step = e.key === 'ArrowDown' ? 1 : -1;
    items[(index + step + items.length) % items.length]?.focus();
  }

  async #uploadAvatar(file) {
    this.#upload?.cancel();
    const upload = new Upload({ file, purpose: Purpose.AVATAR, api: this.#api });
    this.#upload = upload;
    const showProgress = () => {
      const busy = !upload.finished && this.#upload === upload;
      this.#progress.hidden = !busy;
      this.#card.classList.toggle('uploading', busy);
      if (upload.state === UploadState.UPLOADING) this.#progress.value = upload.progress;
      else this.#progress.removeAttribute('value');
    };
    upload.on('change', showProgress);
    showProgress();
    try {
      const { key } = await upload.start();
      await this.#client.setAvatar(key);
      this.render();
    } catch (err) {
      if (err.code !== 'CANCELED') this.#notify(`Your avatar was not changed: ${err.message}`);
    } finally {
      if (this.#upload === upload) {
        this.#upload = null;
        this.#progress.hidden = true;
        this.#card.classList.remove('uploading');
      }
    }
  }
}
