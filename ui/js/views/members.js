// The member list of the room on screen, online members first, each with a
// presence dot.

import { avatar, byId, h } from './dom.js';

const STATUS_LABEL = { online: 'Online', away: 'Away', busy: 'Busy', offline: 'Offline' };

export class MembersPanel {
  #client;
  #list = byId('members');
  #title = byId('members-title');
  #room = null;

  constructor({ client }) {
    this.#client = client;
  }

  show(roomId) {
    this.#room = roomId;
    this.render();
  }

  render() {
    const members = this.#room === null ? [] : this.#client.members(this.#room);
    const online = members.filter((m) => m.status !== 'offline').length;
    this.#title.textContent = members.length ? `Members · ${online} online` : 'Members';
    this.#list.replaceChildren(
      ...members.map((m) => {
        const status = STATUS_LABEL[m.status] ? m.status : 'offline';
        return h(
          'li',
          { class: `member ${status}`, dataset: { testid: 'member', user: m.user, status } },
          h('span', { class: 'member-avatar' }, avatar(m.user, m.displayName), h('span', { class: 'presence-dot', title: STATUS_LABEL[status] })),
          h('span', { class: 'member-name', text: m.displayName }),
          h('span', { class: 'visually-hidden', text: `, ${STATUS_LABEL[status]}` }),
        );
      }),
    );
  }
}
