// The member list of the room on screen, online members first, each with
// their avatar and a presence dot. A room past one page of members shows the
// first page; scrolling to the end of the list or "Show more members" loads
// the next.

import { byId, h, reuseAvatar } from './dom.js';

const STATUS_LABEL = { online: 'Online', away: 'Away', busy: 'Busy', offline: 'Offline' };

export class MembersPanel {
  #client;
  #list = byId('members');
  #title = byId('members-title');
  #more = byId('members-more');
  #room = null;
  #avatars = new Map(); // user -> avatar element, reused while it shows the same picture
  #observer = null;
  #moreInView = false;
  #onMore = () => this.#room !== null && this.#client.loadMoreMembers(this.#room);

  constructor({ client }) {
    this.#client = client;
    this.#more.addEventListener('click', this.#onMore);
    if (typeof IntersectionObserver === 'function') {
      this.#observer = new IntersectionObserver(
        (entries) => {
          this.#moreInView = entries.at(-1).isIntersecting;
          this.#loadMoreInView();
        },
        { root: byId('members-panel'), rootMargin: '0px 0px 120px 0px' },
      );
      this.#observer.observe(this.#more);
    }
  }

  destroy() {
    this.#observer?.disconnect();
    this.#more.removeEventListener('click', this.#onMore);
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
    const { hasMore, loading } = this.#room === null ? {} : this.#client.memberPages(this.#room);
    this.#more.hidden = !hasMore;
    this.#more.setAttribute('aria-busy', String(Boolean(loading)));
    this.#more.textContent = loading ? 'Loading more members…' : 'Show more members';
    this.#loadMoreInView();
  }

  /** Loads the next page while the end of the list is in view. */
  #loadMoreInView() {
    if (!this.#moreInView || this.#room === null) return;
    const { hasMore, loading, failed } = this.#client.memberPages(this.#room);
    // A page that failed waits for the button.
    if (hasMore && !loading && !failed) this.#onMore();
  }
}
