// The sidebar: the user's rooms (with unread and mention counts) and the
// other rooms to discover (with member and online counts), a page at a time
// or searched by name (the RoomDirectory's list). The user's own card below
// them is the ProfileMenu's.

import { byId, h, icon, patchList } from './dom.js';

export class Sidebar {
  #client;
  #onSelect;
  #onJoin;
  #open = byId('open-rooms');
  #openEmpty = byId('open-rooms-empty');
  #discover = byId('discover-rooms');
  #discoverEmpty = byId('discover-empty');
  #search = byId('discover-search');
  #more = byId('discover-more');
  #directory;
  #observer = null;
  #moreInView = false;
  #active = null;
  #cleanup = [];

  /**
   * directory: the RoomDirectory of the Discover list. onSelect(roomId): an
   * open room was chosen; onJoin(room): a directory room was chosen.
   */
  constructor({ client, directory, onSelect, onJoin }) {
    this.#client = client;
    this.#directory = directory;
    this.#onSelect = onSelect;
    this.#onJoin = onJoin;
    const onInput = () => directory.search(this.#search.value);
    const onMore = () => directory.loadMore();
    // The items are kept across renders (patchList), so the lists listen for
    // their clicks, not each item.
    const onOpenClick = (e) => {
      const item = e.target.closest?.('[data-testid=room-item]');
      if (item && this.#open.contains(item)) this.#onSelect(item.dataset.room);
    };
    const onDiscoverClick = (e) => {
      const item = e.target.closest?.('[data-testid=discover-room]');
      if (!item || !this.#discover.contains(item)) return;
      const id = item.dataset.room;
      if (item.dataset.open === 'true') this.#onSelect(id);
      else this.#onJoin(directory.entry(id) ?? { id });
    };
    this.#search.addEventListener('input', onInput);
    this.#more.addEventListener('click', onMore);
    this.#open.addEventListener('click', onOpenClick);
    this.#discover.addEventListener('click', onDiscoverClick);
    this.#cleanup.push(
      () => this.#search.removeEventListener('input', onInput),
      () => this.#more.removeEventListener('click', onMore),
      () => this.#open.removeEventListener('click', onOpenClick),
      () => this.#discover.removeEventListener('click', onDiscoverClick),
      directory.on('change', () => this.render()),
    );
    // Scrolling the list down to its end loads the next page, as the button does.
    if (typeof IntersectionObserver === 'function') {
      this.#observer = new IntersectionObserver(
        (entries) => {
          this.#moreInView = entries.at(-1).isIntersecting;
          this.#loadMoreInView();
        },
        { root: this.#discover.closest('.room-nav'), rootMargin: '0px 0px 120px 0px' },
      );
      this.#observer.observe(this.#more);
    }
  }

  destroy() {
    this.#observer?.disconnect();
    for (const off of this.#cleanup) off();
    this.#cleanup = [];
  }

  /** Directory data of a room (name, description, counts), if known. */
  directoryEntry(id) {
    return this.#directory.entry(id);
  }

  setActive(id) {
    this.#active = id;
    this.render();
  }

  render() {
    const open = this.#client.rooms();
    this.#openEmpty.hidden = open.length > 0;
    this.#update(this.#open, open.map((room) => this.#openItem(room)));
    this.#renderDiscover(new Set(open.map((r) => r.id)));
  }

  /**
   * The Discover list: the rooms that are not the user's, or, during a search, every
   * room that matches (an open one is selected rather than joined).
   */
  #renderDiscover(openIds) {
    const dir = this.#directory;
    const searching = dir.query !== '';
    const shown = searching ? dir.rooms : dir.rooms.filter((r) => !openIds.has(r.id));
    this.#update(this.#discover, shown.map((room) => this.#discoverItem(room, openIds.has(room.id))));
    this.#discover.setAttribute('aria-busy', String(dir.loading));
    let hint = '';
    if (dir.error && !dir.loading) hint = `The room list could not be loaded: ${dir.error.message}`;
    else if (dir.loaded && shown.length === 0 && !dir.hasMore) hint = searching ? `No room name holds “${dir.query}”.` : 'No other rooms yet.';
    this.#discoverEmpty.textContent = hint;
    this.#discoverEmpty.hidden = hint === '';
    this.#more.hidden = !dir.hasMore;
    this.#more.setAttribute('aria-busy', String(dir.loading));
    this.#more.textContent = dir.loading ? 'Loading more rooms…' : 'Show more rooms';
    this.#loadMoreInView();
  }

  /**
   * Loads the next page while the end of the list is in view: the list may
   * still not fill the sidebar after one page (its open rooms are left
   * out). A failed page waits for the button.
   */
  #loadMoreInView() {
    const dir = this.#directory;
    if (this.#moreInView && dir.hasMore && !dir.loading && !dir.error) dir.loadMore();
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
      },
      icon(info?.isPrivate ? 'lock' : 'hash', 'room-icon'),
      h('span', { class: 'room-name', text: name }),
      room.error ? icon('alert', 'room-alert') : null,
      room.mentions > 0
        ? h('span', {
            class: 'badge mention-badge',
            dataset: { testid: 'mention-badge' },
            'aria-label': `${room.mentions} ${room.mentions === 1 ? 'mention' : 'mentions'}`,
            text: `@${room.mentions > 99 ? '99+' : room.mentions}`,
          })
        : null,
      room.unread > 0
        ? h('span', {
            class: 'badge',
            dataset: { testid: 'unread-badge' },
            'aria-label': `${room.unread}${room.unreadMore ? ' or more' : ''} unread`,
            text: room.unread > 99 ? '99+' : `${room.unread}${room.unreadMore ? '+' : ''}`,
          })
        : null,
    );
    return h('li', { dataset: { key: room.id } }, button);
  }

  #discoverItem(room, open) {
    const counts = `${room.memberCount} member${room.memberCount === 1 ? '' : 's'} · ${room.onlineCount} online`;
    const button = h(
      'button',
      {
        type: 'button',
        class: 'room-item discover-item',
        dataset: open ? { testid: 'discover-room', room: room.id, open: 'true' } : { testid: 'discover-room', room: room.id },
      },
      // Named by what it shows, after what it does (the visible text stays part of the name).
      h('span', { class: 'visually-hidden', text: open ? 'Open ' : 'Join ' }),
      icon(room.isPrivate ? 'lock' : 'hash', 'room-icon'),
      room.isPrivate ? h('span', { class: 'visually-hidden', text: '(password protected) ' }) : null,
      h(
        'span',
        { class: 'room-text' },
        h('span', { class: 'room-name', text: room.name || room.id }),
        room.description ? h('span', { class: 'room-desc', text: room.description }) : null,
        h('span', { class: 'room-counts', dataset: { testid: 'room-counts' } }, h('span', { class: 'online-dot', 'aria-hidden': 'true' }), counts),
      ),
    );
    return h('li', { dataset: { key: room.id } }, button);
  }

  /**
   * Updates list to items in place (patchList); an item that moved, which
   * loses focus as it does, gets it back.
   */
  #update(list, items) {
    const focused = list.contains(document.activeElement) ? document.activeElement : null;
    patchList(list, items);
    if (focused?.isConnected && document.activeElement !== focused) focused.focus();
  }
}
