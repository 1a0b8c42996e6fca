// The chat screen: puts the sidebar, the room header, the timeline, the
// composer and the member list together, and follows the client's events.
// Each session gets a fresh copy of the screen from its template, and
// destroy() removes it, so no listener outlives the session it was made for.

import { State } from '../connection.js';
import { RoomDirectory } from '../directory.js';
import { typingText } from '../format.js';
import { Composer } from './composer.js';
import { ConfirmDialog, CreateRoomDialog, PasswordDialog } from './dialogs.js';
import { byId, h } from './dom.js';
import { MembersPanel } from './members.js';
import { ProfileMenu } from './profile.js';
import { Sidebar } from './sidebar.js';
import { ConnectionStatus } from './status.js';
import { Timeline } from './timeline.js';

const DIRECTORY_REFRESH_MS = 30000;
const TOAST_MS = 5000;
const WIDE_QUERY = '(min-width: 1100px)';
const PHONE_QUERY = '(max-width: 759px)';

export class ChatView {
  #mounted;
  #client;
  #connection;
  #api;
  #screen = byId('chat-screen');
  #title = byId('room-title');
  #sub = byId('room-sub');
  #typing = byId('typing');
  #welcome = byId('welcome');
  #leave = byId('leave-room');
  #divider = null; // the divider of the room on screen, as last rendered
  #membersToggle = byId('members-toggle');
  #menuToggle = byId('menu-toggle');
  #scrim = byId('scrim');
  #announcer = byId('announcer');
  #toasts = byId('toasts');
  #offlineBanner = byId('offline-banner');
  #directory;
  #sidebar;
  #timeline;
  #composer;
  #members;
  #profile;
  #status;
  #createDialog;
  #passwordDialog;
  #active = null;
  #directoryTimer = null;
  #cleanup = [];

  /** Copies the screen from its template into the page and wires it up. */
  static mount(options) {
    const fragment = byId('chat-template').content.cloneNode(true);
    const mounted = [...fragment.children];
    document.body.append(fragment);
    return new ChatView({ ...options, mounted });
  }

  constructor({ client, connection, api, user, mounted }) {
    this.#mounted = mounted;
    this.#client = client;
    this.#connection = connection;
    this.#api = api;
    const notify = (text) => this.toast(text);
    this.#directory = new RoomDirectory({ api });
    this.#sidebar = new Sidebar({ client, directory: this.#directory, onSelect: (id) => this.select(id), onJoin: (room) => this.#join(room) });
    const confirmDialog = new ConfirmDialog();
    this.#timeline = new Timeline({
      client,
      announce: (text) => this.#announce(text),
      confirm: (text, action) => confirmDialog.ask(text, action),
      onReply: (item) => this.#composer.replyTo(item),
      onEditEnd: () => this.#composer.focus(),
    });
    this.#composer = new Composer({
      client,
      api,
      notify,
      onSent: () => this.#timeline.scrollToBottom(),
      onEditLast: () => this.#timeline.editLast(),
    });
    this.#members = new MembersPanel({ client });
    this.#profile = new ProfileMenu({ client, api, user, notify });
    this.#status = new ConnectionStatus({ connection });
    this.#createDialog = new CreateRoomDialog({ create: (values) => this.#create(values) });
    this.#passwordDialog = new PasswordDialog();

    this.#listen(byId('new-room'), 'click', () => this.#createDialog.open());
    this.#listen(byId('welcome-new-room'), 'click', () => this.#createDialog.open());
    this.#listen(byId('welcome-browse'), 'click', () => this.#setDrawerOpen(true));
    this.#listen(this.#leave, 'click', () => this.#leaveActive());
    this.#listen(this.#membersToggle, 'click', () => this.#setMembersOpen(this.#screen.dataset.members !== 'open'));
    this.#listen(this.#menuToggle, 'click', () => this.#setDrawerOpen(!this.#screen.classList.contains('drawer-open')));
    this.#listen(this.#scrim, 'click', () => {
      this.#setDrawerOpen(false);
      this.#setMembersOpen(false);
    });
    this.#listen(document, 'keydown', (e) => this.#onKey(e));
    this.#setMembersOpen(matchMedia(WIDE_QUERY).matches);
    this.#listen(byId('members-close'), 'click', () => {
      this.#setMembersOpen(false);
      this.#membersToggle.focus();
    });
    // A window that narrows or widens past a layout's edge starts that layout
    // afresh: nothing that lay beside the conversation is left lying over it.
    this.#listen(matchMedia(WIDE_QUERY), 'change', (e) => {
      this.#setDrawerOpen(false);
      this.#setMembersOpen(e.matches);
    });
    this.#listen(matchMedia(PHONE_QUERY), 'change', () => this.#setDrawerOpen(false));

    this.#cleanup.push(
      client.on('rooms', () => this.#onRooms()),
      client.on('messages', ({ room }) => room === this.#active && this.#timeline.update()),
      client.on('typing', ({ room }) => room === this.#active && this.#renderTyping()),
      client.on('members', ({ room }) => room === this.#active && this.#onMembers()),
      client.on('profile', () => this.#onMembers()),
      client.on('incoming', ({ room, message }) => this.#onIncoming(room, message)),
      client.on('notice', ({ text }) => this.toast(text)),
      this.#directory.on('change', () => this.#renderHeader()),
      connection.on('state', ({ state }) => state === State.CONNECTED && this.#refreshDirectory()),
      connection.on('state', () => this.#renderLink()),
      client.on('messages', () => this.#renderLink()),
    );
    this.#renderLink();
    this.#directoryTimer = setInterval(() => this.#refreshDirectory(), DIRECTORY_REFRESH_MS);
  }

  show() {
    this.select(this.#client.activeRoom ?? this.#client.rooms()[0]?.id ?? null);
    this.#refreshDirectory();
  }

  destroy() {
    for (const off of this.#cleanup) off();
    clearInterval(this.#directoryTimer);
    this.#directory.stop();
    this.#sidebar.destroy();
    this.#members.destroy();
    this.#timeline.destroy();
    this.#status.destroy();
    this.#composer.destroy();
    this.#profile.destroy();
    for (const node of this.#mounted) node.remove();
  }

  /**
   * While not connected, presence is not known (the dots go grey) and a
   * banner says how many messages will go out once the connection is back.
   */
  #renderLink() {
    const state = this.#connection.state;
    const down = state === State.RECONNECTING || state === State.FAILED;
    this.#screen.dataset.link = down ? 'down' : 'up';
    const waiting = this.#client.waitingCount;
    this.#offlineBanner.hidden = !down;
    if (!down) return;
    this.#offlineBanner.dataset.waiting = String(waiting);
    this.#offlineBanner.textContent =
      waiting === 0
        ? 'Not connected. Messages you write now will send when the connection is back.'
        : `Not connected. ${waiting} ${waiting === 1 ? 'message' : 'messages'} will send when the connection is back.`;
  }

  /** The browser went offline or online. */
  setOffline(offline) {
    this.#status.setOffline(offline);
    this.#composer.setOffline(offline);
  }

  /** Puts a room on screen (null: the welcome view). */
  select(id) {
    this.#active = id;
    this.#client.setActiveRoom(id);
    this.#welcome.hidden = id !== null;
    this.#leave.hidden = id === null;
    this.#membersToggle.hidden = id === null;
    this.#sidebar.setActive(id);
    this.#timeline.show(id);
    this.#composer.show(id, this.#roomName(id));
    this.#members.show(id);
    this.#renderHeader();
    this.#renderTyping();
    this.#setDrawerOpen(false);
    this.#composer.focus();
  }

  toast(text) {
    const toast = h('div', { class: 'toast', dataset: { testid: 'toast' }, text });
    this.#toasts.append(toast);
    setTimeout(() => toast.remove(), TOAST_MS);
  }

  #listen(target, type, fn) {
    target.addEventListener(type, fn);
    this.#cleanup.push(() => target.removeEventListener(type, fn));
  }

  #roomName(id) {
    if (id === null) return '';
    return this.#client.room(id)?.info?.name || this.#sidebar.directoryEntry(id)?.name || id;
  }

  #onRooms() {
    if (this.#active !== null && !this.#client.room(this.#active)) this.select(this.#client.rooms()[0]?.id ?? null);
    // The first room list put a room on screen.
    else if (this.#active === null && this.#client.activeRoom !== null && this.#client.room(this.#client.activeRoom)) this.select(this.#client.activeRoom);
    // The "New messages" divider follows the room's read position.
    const divider = this.#active === null ? null : (this.#client.room(this.#active)?.divider ?? null);
    if (divider !== this.#divider) {
      this.#divider = divider;
      this.#timeline.update();
    }
    this.#sidebar.render();
    this.#renderHeader();
    if (this.#active !== null) this.#composer.setLabel(this.#roomName(this.#active));
    const unread = this.#client.rooms().reduce((n, r) => n + r.unread, 0);
    document.title = unread > 0 ? `(${unread}) Chillin` : 'Chillin';
  }

  /** Someone joined, left, changed status, name or avatar: everything showing people follows. */
  #onMembers() {
    this.#members.render();
    this.#renderHeader();
    this.#renderTyping();
    this.#timeline.update();
  }

  #onIncoming(roomId, message) {
    if (roomId !== this.#active || !message) return;
    let text = message.text.length > 200 ? `${message.text.slice(0, 200)}…` : message.text;
    const files = message.attachments?.length ?? 0;
    if (files > 0) text = `${text} (${files} attachment${files === 1 ? '' : 's'})`.trim();
    this.#announce(`${this.#client.displayName(message.user)}: ${text}`);
  }

  #announce(text) {
    this.#announcer.append(h('p', { text }));
    while (this.#announcer.childElementCount > 5) this.#announcer.firstElementChild.remove();
  }

  #renderHeader() {
    const room = this.#active === null ? null : this.#client.room(this.#active);
    if (!room) {
      this.#title.textContent = 'Chillin';
      this.#sub.textContent = '';
      return;
    }
    this.#title.textContent = `#${this.#roomName(room.id)}`;
    const members = this.#client.members(room.id);
    let total = members.length || room.memberCount;
    let online = members.length ? members.filter((m) => m.status !== 'offline').length : room.onlineCount;
    if (this.#client.memberPages(room.id).hasMore) {
      // Only the first pages of a big room are here: the room's own counts are larger.
      total = Math.max(total, room.memberCount);
      online = Math.max(online, room.info?.onlineCount ?? 0);
    }
    const counts = `${total} member${total === 1 ? '' : 's'} · ${online} online`;
    const description = room.info?.description || this.#sidebar.directoryEntry(room.id)?.description;
    this.#sub.textContent = description ? `${counts} · ${description}` : counts;
  }

  #renderTyping() {
    const room = this.#active === null ? null : this.#client.room(this.#active);
    const names = (room?.typing ?? []).map((u) => this.#client.displayName(u));
    this.#typing.textContent = typingText(names);
  }

  /** Reloads the Discover list (a failure shows there; it is tried again shortly). */
  #refreshDirectory() {
    this.#directory.refresh();
  }

  async #join(room) {
    if (room.isPrivate) {
      this.#passwordDialog.open(room, (password) => this.#openAndSelect(room.id, password));
      return;
    }
    try {
      await this.#openAndSelect(room.id);
    } catch (err) {
      this.toast(`Could not join #${room.name || room.id}: ${err.message}`);
    }
  }

  async #openAndSelect(id, password) {
    await this.#client.openRoom(id, { password });
    this.select(id);
    this.#refreshDirectory();
  }

  async #create(values) {
    const room = await this.#api.createRoom(values);
    await this.#openAndSelect(room.id, values.password);
  }

  #leaveActive() {
    const id = this.#active;
    if (id === null || !confirm(`Leave #${this.#roomName(id)}?`)) return;
    this.#client.leaveRoom(id);
    this.#refreshDirectory();
  }

  #setDrawerOpen(open) {
    this.#screen.classList.toggle('drawer-open', open);
    this.#menuToggle.setAttribute('aria-expanded', String(open));
    this.#syncScrim();
  }

  #setMembersOpen(open) {
    const was = this.#screen.dataset.members === 'open';
    this.#screen.dataset.members = open ? 'open' : 'closed';
    this.#membersToggle.setAttribute('aria-expanded', String(open));
    this.#syncScrim();
    // Lying over the conversation, the list takes the focus (Escape or its close button give it back).
    if (open && !was && !matchMedia(WIDE_QUERY).matches) byId('members-close').focus();
  }

  /** The scrim covers the conversation while a panel lies over it. */
  #syncScrim() {
    const membersOver = this.#screen.dataset.members === 'open' && !matchMedia(WIDE_QUERY).matches;
    this.#scrim.hidden = !(this.#screen.classList.contains('drawer-open') || membersOver);
  }

  /** Alt+ArrowUp / Alt+ArrowDown move between open rooms; Escape closes panels. */
  #onKey(e) {
    if (e.key === 'Escape') {
      this.#setDrawerOpen(false);
      if (!matchMedia(WIDE_QUERY).matches) this.#setMembersOpen(false);
      return;
    }
    if (!e.altKey || (e.key !== 'ArrowUp' && e.key !== 'ArrowDown')) return;
    const ids = this.#client.rooms().map((r) => r.id);
    if (ids.length === 0) return;
    e.preventDefault();
    const step = e.key === 'ArrowUp' ? -1 : 1;
    const index = ids.indexOf(this.#active);
    this.select(ids[(index + step + ids.length) % ids.length]);
  }
}
