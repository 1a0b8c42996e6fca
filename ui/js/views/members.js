// The member list of the room on screen, online members first, each with
// their avatar and a presence dot.

import { byId, h, reuseAvatar } from './dom.js';

const STATUS_LABEL = { online: 'Online', away: 'Away', busy: 'Busy', offline: 'Offline' };

export class MembersPanel {
  #client;
  #list = byId('members');
  #title = byId('members-title');
  #room = null;
  #avatars = new Map(); // user -> avatar element, reused while it shows the same picture

  constructor({ client }) {
    this.#client = client;
  }

  show(roomId) {
    this.#room = roomId;
    this.render();
  }

  #avatar(m) {
    const el = reuseAvatar(this.#avatars.get(m.user), m.user, m.displayName, '', m.avatarUrl);
    this.#avatars.set(m.user, el);
    return el;
  }

  render() {
    const members = this.#room === null ? [] : this.#client.members(this.#room);
    for (const user of this.#avatars.keys()) if (!members.some((m) => m.user === user)) this.#avatars.delete(user);
    const online = members.filter((m) => m.status !== 'offline').length;
    this.#title.textContent = members.length ? `Members · ${online} online` : 'Members';
    this.#list.replaceChildren(
      ...members.map((m) => {
        const status = STATUS_LABEL[m.status] ? m.status : 'offline';
        return h(
          'li',
          { class: `member ${status}`, dataset: { testid: 'member', user: m.user, status } },
          h(
            'span',
            { class: 'member-avatar' },
            this.#avatar(m),
            h('span', { class: 'presence-dot', title: STATUS_LABEL[status] }),
          ),
          h('span', { class: 'member-name', text: m.displayName }),
          h('span', { class: 'visually-hidden', text: `, ${STATUS_LABEL[status]}` }),
        );
      }),
    );
  }
}
