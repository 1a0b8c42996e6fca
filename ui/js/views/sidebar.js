// The sidebar: the rooms the user has open (with unread counts) and the
// other rooms to discover (with member and online counts). The user's own
// card below them is the ProfileMenu's.

import { byId, h, icon } from './dom.js';

export class Sidebar {
  #client;
  #onSelect;
  #onJoin;
  #open = byId('open-rooms');
  #openEmpty = byId('open-rooms-empty');
  #discover = byId('discover-rooms');
  #discoverEmpty = byId('discover-empty');
  #directory = [];
  #active = null;

  /** onSelect(roomId): an open room was chosen; onJoin(room): a directory room was chosen. */
  constructor({ client, onSelect, onJoin }) {
    this.#client = client;
    this.#onSelect = onSelect;
    this.#onJoin = onJoin;
  }

  /** The rooms from GET /api/rooms. */
  setDirectory(rooms) {
    this.#directory = rooms;
    this.render();
  }

  /** Directory data of a room (name, description, counts), if known. */
  directoryEntry(id) {
    return this.#directory.find((r) => r.id === id) ?? null;
  }

  setActive(id) {
    this.#active = id;
    this.render();
  }

  render() {
    const open = this.#client.rooms();
    this.#openEmpty.hidden = open.length > 0;
    this.#replaceKeepingFocus(this.#open, open.map((room) => this.#openItem(room)));
    const openIds = new Set(open.map((r) => r.id));
    const others = this.#directory.filter((r) => !openIds.has(r.id));
    this.#discoverEmpty.hidden = others.length > 0;
    this.#replaceKeepingFocus(this.#discover, others.map((room) => this.#discoverItem(room)));
  }

  #openItem(room) {
    const info = room.info ?? this.directoryEntry(room.id);
    const name = info?.name || room.id;
    const state = room.error ? 'error' : room.joined ? 'joined' : 'joining';
    const button = h(
      'button',
      {
        type: 'button',
        class: 'room-item',
        dataset: { testid: 'room-item', room: room.id, state },
        'aria-current': room.id === this.#active ? 'page' : null,
        title: room.error ? room.error.message : null,
        onclick: () => this.#onSelect(room.id),
      },
      icon(info?.isPrivate ? 'lock' : 'hash', 'room-icon'),
      h('span', { class: 'room-name', text: name }),
      room.error ? icon('alert', 'room-alert') : null,
      room.unread > 0
        ? h('span', {
            class: 'badge',
            dataset: { testid: 'unread-badge' },
            'aria-label': `${room.unread} unread`,
            text: room.unread > 99 ? '99+' : String(room.unread),
          })
        : null,
    );
    return h('li', {}, button);
  }

  #discoverItem(room) {
    const counts = `${room.memberCount} member${room.memberCount === 1 ? '' : 's'} · ${room.onlineCount} online`;
    const button = h(
      'button',
      {
        type: 'button',
        class: 'room-item discover-item',
        dataset: { testid: 'discover-room', room: room.id },
        'aria-label': `Join ${room.name || room.id}${room.isPrivate ? ' (password protected)' : ''}, ${counts}`,
        onclick: () => this.#onJoin(room),
      },
      icon(room.isPrivate ? 'lock' : 'hash', 'room-icon'),
      h(
        'span',
        { class: 'room-text' },
        h('span', { class: 'room-name', text: room.name || room.id }),
        room.description ? h('span', { class: 'room-desc', text: room.description }) : null,
        h('span', { class: 'room-counts', dataset: { testid: 'room-counts' } }, h('span', { class: 'online-dot', 'aria-hidden': 'true' }), counts),
      ),
    );
    return h('li', {}, button);
  }

  #replaceKeepingFocus(list, items) {
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.room : null;
    list.replaceChildren(...items);
    if (focused) list.querySelector(`[data-room="${CSS.escape(focused)}"]`)?.focus();
  }
}
