// The message list of the room on screen. Rows are keyed (day separators,
// messages, system lines) and a row is rebuilt only when its item changed, so
// updates are cheap and focus and selection survive them. Scrolling sticks to
// the newest message unless the user scrolled up, pages history back near the
// top, and keeps the reading position when older messages are prepended.

import { buildTimeline, formatBytes, formatDay, formatTime, isInlineImage, validateText } from '../format.js';
import { parseMarkdown } from '../markdown.js';
import { Kind, MessageState } from '../roomstore.js';
import { byId, h, icon, loadImage, reuseAvatar } from './dom.js';

const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉', '😮'];
const BOTTOM_SLACK_PX = 48;
const LOAD_OLDER_PX = 300;

const SYSTEM_TEXT = {
  [Kind.ROOM_CREATED]: 'created the room',
  [Kind.MEMBER_JOINED]: 'joined the room',
  [Kind.MEMBER_LEFT]: 'left the room',
};

export class Timeline {
  #client;
  #announce;
  #root = byId('timeline');
  #list = byId('messages');
  #edge = byId('history-edge');
  #jump = byId('jump');
  #jumpUnread = byId('jump-unread');
  #room = null;
  #nodes = new Map(); // row key -> {row, name, avatar, node}
  #editing = null; // key of the message being edited
  #editDraft = null; // its text so far, kept if the row is rebuilt meanwhile
  #editFromComposer = false;
  #current = null; // key of the message that takes the list's one tab stop
  #actionsOpen = null; // key of the message whose toolbar was opened by its button or Enter
  #confirm;
  #onReply;
  #onEditEnd;
  #atBottom = true;
  #lastKey = null;
  #frame = 0;
  #ticker = null;

  /**
   * announce(text) tells screen reader users about a message that failed;
   * confirm(text, action) asks the user (resolves true to go ahead);
   * onReply(item) starts a reply to a message; onEditEnd() runs when an edit
   * started from the composer ends (focus goes back there).
   */
  constructor({ client, announce, confirm, onReply = () => {}, onEditEnd = () => {} }) {
    this.#client = client;
    this.#announce = announce;
    this.#confirm = confirm;
    this.#onReply = onReply;
    this.#onEditEnd = onEditEnd;
    this.#list.addEventListener('keydown', (e) => this.#onKey(e));
    this.#list.addEventListener('focusin', (e) => {
      if (e.target instanceof Element && e.target.matches('.msg')) this.#current = e.target.dataset.row;
    });
    this.#root.addEventListener('scroll', () => this.#onScroll(), { passive: true });
    this.#jump.addEventListener('click', () => this.scrollToBottom());
    this.#jumpUnread.addEventListener('click', () => this.scrollToUnread());
    // The toolbar sits above its row; at the top edge of the list it would be
    // cut off there, so it goes inside the row instead.
    const placeActions = (e) => {
      const li = e.target instanceof Element ? e.target.closest('.msg') : null;
      if (li) li.classList.toggle('actions-inside', li.getBoundingClientRect().top - this.#root.getBoundingClientRect().top < 18);
    };
    this.#list.addEventListener('pointerover', placeActions);
    this.#list.addEventListener('focusin', placeActions);
  }

  /** Shows a room (or nothing, with null), scrolled to its newest message. */
  show(roomId) {
    this.#room = roomId;
    this.#nodes.clear();
    this.#list.replaceChildren();
    this.#editing = null;
    this.#editDraft = null;
    this.#lastKey = null;
    this.#atBottom = true;
    this.#root.hidden = roomId === null;
    this.#jump.hidden = true;
    this.#jumpUnread.hidden = true;
    if (roomId !== null) this.#render();
  }

  /**
   * Re-renders on the next frame; several changes in one frame render once.
   * Rows whose item or author's display name or avatar changed are rebuilt.
   */
  update() {
    if (this.#frame || this.#room === null) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.#render();
    });
  }

  scrollToBottom() {
    this.#root.scrollTop = this.#root.scrollHeight;
    this.#atBottom = true;
    this.#jump.hidden = true;
  }

  /**
   * Brings the "New messages" divider into view, paging history back first
   * while the first unread message is older than the messages held.
   */
  async scrollToUnread() {
    const roomId = this.#room;
    while (roomId !== null && this.#room === roomId && this.#client.unreadAbove(roomId)) {
      const before = this.#client.room(roomId)?.store.version;
      await this.#client.loadOlder(roomId);
      if (this.#client.room(roomId)?.store.version === before) break; // nothing came: give up
    }
    if (this.#room !== roomId) return;
    this.#render();
    const divider = this.#list.querySelector('[data-testid="unread-divider"]');
    if (!(divider instanceof HTMLElement)) return;
    this.#root.scrollTop = Math.max(0, divider.offsetTop - 8);
    this.#onScroll();
    this.#jumpUnread.hidden = true;
  }

  destroy() {
    cancelAnimationFrame(this.#frame);
    clearInterval(this.#ticker);
  }

  #render() {
    const room = this.#client.room(this.#room);
    if (!room) return;
    const anchor = this.#atBottom ? null : this.#captureAnchor();
    const rows = withDivider(buildTimeline(room.store.list()), this.#client.firstUnread(room.id));
    const nodes = rows.map((row) => this.#nodeFor(row));
    nodes.forEach((node, i) => {
      if (this.#list.children[i] !== node) this.#list.insertBefore(node, this.#list.children[i] ?? null);
    });
    while (this.#list.children.length > nodes.length) this.#list.lastElementChild.remove();
    const keys = new Set(rows.map((r) => r.key));
    for (const key of this.#nodes.keys()) if (!keys.has(key)) this.#nodes.delete(key);

    this.#renderEdge(room);
    this.#rove();
    const lastKey = rows.at(-1)?.key ?? null;
    const grew = lastKey !== this.#lastKey;
    this.#lastKey = lastKey;
    if (this.#atBottom) this.scrollToBottom();
    else {
      this.#restoreAnchor(anchor);
      if (grew) this.#jump.hidden = false;
    }
    this.#tickRetries();
    this.#fillViewport(room);
    this.#renderJumpUnread();
  }

  /** Offers the jump to the divider while it (or its message, not loaded yet) is above the view. */
  #renderJumpUnread() {
    const divider = this.#list.querySelector('[data-testid="unread-divider"]');
    const above = divider instanceof HTMLElement ? divider.offsetTop < this.#root.scrollTop : this.#room !== null && this.#client.unreadAbove(this.#room);
    this.#jumpUnread.hidden = !above;
  }

  #nodeFor(row) {
    const cached = this.#nodes.get(row.key);
    const name = row.item ? this.#client.displayName(row.item.user) : null;
    const avatarUrl = row.item ? this.#client.avatarUrl(row.item.user) : null;
    // A reply shows the message it answers as that message stands now.
    const quote = this.#quote(row.item);
    if (
      cached &&
      cached.row.item === row.item &&
      cached.row.continued === row.continued &&
      cached.name === name &&
      cached.avatar === avatarUrl &&
      cached.quote?.key === quote?.key
    ) {
      return cached.node;
    }
    const node =
      row.type === 'day'
        ? this.#dayNode(row)
        : row.type === 'unread'
          ? h('li', { class: 'unread-divider', dataset: { testid: 'unread-divider' } }, h('span', { text: 'New messages' }))
          : row.item.kind === 'system'
          ? this.#systemNode(row.item)
          : this.#messageNode(row, cached, quote);
    node.dataset.row = row.key;
    const hadFocus = cached?.node.contains(document.activeElement) && document.activeElement !== document.body;
    cached?.node.replaceWith(node);
    if (hadFocus && this.#editing !== row.key) node.focus({ preventScroll: true });
    this.#nodes.set(row.key, { row, name, avatar: avatarUrl, quote, node });
    if (row.item?.state === MessageState.FAILED && cached && cached.row.item.state !== MessageState.FAILED) {
      this.#announce(`Message not sent: ${failureText(row.item.error)}`);
    }
    return node;
  }

  #renderEdge(room) {
    let text = '';
    if (room.history === 'loading') text = 'Loading messages…';
    else if (room.history === 'error') text = 'Could not load the history.';
    else if (room.loadingOlder) text = 'Loading older messages…';
    else if (room.history === 'loaded' && !room.store.hasMore) text = `This is the beginning of #${room.info?.name || room.id}.`;
    this.#edge.textContent = text;
  }

  #dayNode(row) {
    return h('li', { class: 'day', dataset: { testid: 'day-separator' } }, h('span', { text: formatDay(row.date) }));
  }

  #systemNode(item) {
    return h(
      'li',
      { class: 'system', dataset: { testid: 'system-message', id: item.id } },
      h('span', { class: 'system-text' }, h('strong', { text: this.#client.displayName(item.user) }), ` ${SYSTEM_TEXT[item.event]}`),
      this.#time(item.createdAt),
    );
  }

  /**
   * previous: the cache entry of the row this one replaces, whose avatar and
   * attachments are kept when they still fit (their images stay loaded).
   */
  #messageNode({ item, continued }, previous, quote) {
    const previousAvatar = previous?.node.querySelector(':scope > .avatar');
    const previousFiles = previous?.row.item?.attachments === item.attachments ? previous.node.querySelector('.attachments') : null;
    const own = item.user === this.#client.me;
    const name = this.#client.displayName(item.user);
    const classes = ['msg', continued && 'continued', own && 'own', item.deleted && 'deleted', `state-${item.state.toLowerCase()}`];
    const li = h('li', {
      class: classes.filter(Boolean).join(' '),
      dataset: { testid: 'message', key: item.key, id: item.id ?? '', clientId: item.clientId ?? '', state: item.state, user: item.user },
      tabindex: '-1',
    });
    const meta = h(
      'div',
      { class: continued ? 'meta visually-hidden' : 'meta' },
      h('span', { class: 'author', text: name }),
      own ? h('span', { class: 'you', text: 'you' }) : null,
      this.#time(item.createdAt),
    );
    const body = h('div', { class: 'body' }, meta);
    if (quote) body.append(this.#replyRef(item.replyTo, quote));
    if (this.#editing === item.key) body.append(this.#editor(item));
    else if (item.deleted || item.text !== '' || item.attachments.length === 0) body.append(this.#text(item));
    if (!item.deleted && item.attachments.length) body.append(previousFiles ?? this.#attachments(item));
    if (Object.keys(item.reactions).length) body.append(this.#reactions(item));
    if (own && !item.deleted) body.append(this.#status(item));
    li.append(
      continued
        ? h('span', { class: 'gutter-time', 'aria-hidden': 'true', text: formatTime(item.createdAt) })
        : reuseAvatar(previousAvatar, item.user, name, '', this.#client.avatarUrl(item.user)),
      body,
    );
    if (item.state === MessageState.SENT && !item.deleted && this.#editing !== item.key) {
      const more = h(
        'button',
        {
          type: 'button',
          class: 'msg-more',
          dataset: { testid: 'more-button' },
          'aria-label': 'Message actions',
          'aria-expanded': 'false',
          title: 'Actions',
          onclick: () => this.#toggleActions(li),
        },
        '⋯',
      );
      li.append(more, this.#actions(item, own));
      if (this.#actionsOpen === item.key) {
        li.classList.add('actions-open');
        more.setAttribute('aria-expanded', 'true');
      }
    }
    return li;
  }

  #time(iso) {
    const date = new Date(iso);
    return h('time', { datetime: date.toISOString(), title: date.toLocaleString(), text: formatTime(date) });
  }

  #text(item) {
    if (item.deleted) return h('div', { class: 'text', dataset: { testid: 'message-text' } }, h('em', { text: 'This message was deleted.' }));
    const p = h('div', { class: 'text', dataset: { testid: 'message-text' } });
    const blocks = parseMarkdown(item.text);
    // One paragraph (most messages) goes straight in: no wrapper element.
    if (blocks.length === 1 && blocks[0].type === 'p') p.append(...inlineNodes(blocks[0].children));
    else p.append(...blocks.map(blockNode));
    if (item.editedAt) {
      p.dataset.edited = 'true';
      p.title = `Edited ${new Date(item.editedAt).toLocaleString()}`;
    }
    return p;
  }

  /**
   * Images inline (a fixed height, so loading them never moves the text;
   * a click opens the full picture), other files as download links.
   */
  #attachments(item) {
    return h(
      'div',
      { class: 'attachments', dataset: { testid: 'attachments' } },
      item.attachments.map((a) => (isInlineImage(a.contentType) ? this.#image(a) : fileLink(a))),
    );
  }

  #image(a) {
    const img = h('img', { alt: a.name, loading: 'lazy', decoding: 'async', dataset: { testid: 'attachment-img' } });
    img.addEventListener('load', () => {
      if (this.#atBottom) this.scrollToBottom();
    });
    const link = h(
      'a',
      {
        class: 'attachment-image',
        href: a.url,
        target: '_blank',
        rel: 'noopener noreferrer',
        title: `${a.name} (${formatBytes(a.size)}): open the full picture`,
        dataset: { testid: 'attachment-image', key: a.key },
      },
      img,
    );
    loadImage(img, a.url, () => link.replaceWith(fileLink(a, 'The image could not be loaded.')));
    return link;
  }

  #reactions(item) {
    const me = this.#client.me;
    return h(
      'div',
      { class: 'reactions' },
      Object.entries(item.reactions).map(([emoji, users]) =>
        h(
          'button',
          {
            type: 'button',
            class: 'reaction',
            dataset: { testid: 'reaction', emoji },
            'aria-pressed': String(users.includes(me)),
            'aria-label': `${emoji} ${users.length}: ${users.map((u) => this.#client.displayName(u)).join(', ')}`,
            title: users.map((u) => this.#client.displayName(u)).join(', '),
            onclick: () => this.#client.toggleReaction(this.#room, item.id, emoji),
          },
          h('span', { text: emoji }),
          h('span', { class: 'count', text: String(users.length) }),
        ),
      ),
    );
  }

  #status(item) {
    if (item.state === MessageState.SENDING) {
      return h('div', { class: 'msg-status', dataset: { testid: 'message-status' }, title: 'Sending' }, icon('clock'), h('span', { class: 'visually-hidden', text: 'Sending' }));
    }
    if (item.state === MessageState.SENT) {
      return h('div', { class: 'msg-status', dataset: { testid: 'message-status' }, title: 'Sent' }, icon('check'), h('span', { class: 'visually-hidden', text: 'Sent' }));
    }
    const retryAt = item.error?.retryAt ?? 0;
    const retry = h(
      'button',
      { type: 'button', class: 'link-button', dataset: { testid: 'retry-button' }, onclick: () => this.#client.retry(item.clientId) },
      icon('retry'),
      'Retry',
    );
    const reason = h('span', { class: 'reason', dataset: { testid: 'failure-reason' } });
    const failed = h(
      'div',
      { class: 'msg-status failed', dataset: { testid: 'message-status' } },
      icon('alert'),
      reason,
      retry,
      h('button', { type: 'button', class: 'link-button', dataset: { testid: 'discard-button' }, onclick: () => this.#client.discard(item.clientId) }, 'Delete'),
    );
    if (retryAt > Date.now()) {
      failed.dataset.retryAt = String(retryAt);
      updateCountdown(failed);
    } else {
      reason.textContent = failureText(item.error);
    }
    return failed;
  }

  #actions(item, own) {
    const room = this.#room;
    const bar = h('div', { class: 'actions', role: 'toolbar', 'aria-label': 'Message actions' });
    for (const emoji of QUICK_REACTIONS) {
      bar.append(
        h('button', {
          type: 'button',
          class: 'action',
          'aria-label': `React with ${emoji}`,
          text: emoji,
          onclick: () => this.#client.toggleReaction(room, item.id, emoji),
        }),
      );
    }
    bar.append(
      h(
        'button',
        { type: 'button', class: 'action', dataset: { testid: 'reply-button' }, 'aria-label': 'Reply', title: 'Reply', onclick: () => this.#onReply(item) },
        h('span', { 'aria-hidden': 'true', text: '↩' }),
      ),
    );
    if (own) {
      bar.append(
        h('button', { type: 'button', class: 'action', dataset: { testid: 'edit-button' }, 'aria-label': 'Edit message', title: 'Edit', onclick: () => this.#startEdit(item) }, icon('edit')),
        h(
          'button',
          {
            type: 'button',
            class: 'action danger',
            dataset: { testid: 'delete-button' },
            'aria-label': 'Delete message',
            title: 'Delete',
            onclick: async (e) => {
              const li = e.currentTarget.closest('.msg');
              if (await this.#confirm('Delete this message for everyone? This cannot be undone.', 'Delete')) this.#client.deleteMessage(room, item.id);
              else li?.isConnected && li.focus();
            },
          },
          icon('trash'),
        ),
      );
    }
    return bar;
  }

  /** Edits the user's newest message still standing; returns whether there was one. */
  editLast() {
    const room = this.#client.room(this.#room);
    const mine = room?.store.list().filter((m) => m.kind === 'message' && m.user === this.#client.me && m.state === MessageState.SENT && !m.deleted);
    const last = mine?.at(-1);
    if (!last) return false;
    this.#startEdit(last, { fromComposer: true });
    return true;
  }

  #startEdit(item, { fromComposer = false } = {}) {
    this.#editFromComposer = fromComposer;
    this.#editing = item.key;
    this.#editDraft = item.text;
    this.#nodes.delete(item.key);
    this.#render();
    this.#list.querySelector('.editor textarea')?.focus();
  }

  #stopEdit() {
    const key = this.#editing;
    this.#editing = null;
    this.#editDraft = null;
    this.#nodes.delete(key);
    this.#render();
    if (this.#editFromComposer) this.#onEditEnd();
    else this.#nodes.get(key)?.node.focus({ preventScroll: true });
  }

  /**
   * What the reply line of item shows of the message it answers, as that
   * message stands now (edited, deleted, its author renamed): {who, what,
   * key}, key telling two apart; null when item is no reply (or deleted).
   */
  #quote(item) {
    if (!item?.replyTo || item.deleted) return null;
    const target = this.#client.room(this.#room)?.store.messageById(item.replyTo);
    const who = target ? this.#client.displayName(target.user) : '';
    const what = !target ? 'an earlier message' : target.deleted ? 'a deleted message' : target.text.slice(0, 80) || 'a file';
    return { who, what, key: `${who}\n${what}` };
  }

  /** A line naming the message this one answers, and the start of its text. */
  #replyRef(id, { who, what }) {
    return h(
      'div',
      { class: 'reply-ref', dataset: { testid: 'reply-ref', replyTo: String(id) } },
      h('span', { 'aria-hidden': 'true', text: '↪ ' }),
      h('span', { class: 'visually-hidden', text: 'In reply to ' }),
      who ? h('strong', { text: who }) : null,
      who ? `: ${what}` : what,
    );
  }

  #toggleActions(li, open = !li.classList.contains('actions-open')) {
    for (const other of this.#list.querySelectorAll('.msg.actions-open')) {
      if (other !== li) this.#toggleActions(other, false);
    }
    li.classList.toggle('actions-open', open);
    li.querySelector('.msg-more')?.setAttribute('aria-expanded', String(open));
    if (open) this.#actionsOpen = li.dataset.row;
    else if (this.#actionsOpen === li.dataset.row) this.#actionsOpen = null;
    if (open) li.querySelector('.actions button')?.focus({ preventScroll: true });
  }

  /**
   * The list's keys: Up and Down move between messages, Enter opens the
   * focused message's actions, Escape closes them (focus back on the message).
   */
  #onKey(e) {
    const li = e.target instanceof Element ? e.target.closest('.msg') : null;
    if (!li || e.target.closest('.editor')) return;
    const onRow = e.target === li;
    if (onRow && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
      const rows = [...this.#list.querySelectorAll('.msg')];
      const next = rows[rows.indexOf(li) + (e.key === 'ArrowUp' ? -1 : 1)];
      if (next) {
        e.preventDefault();
        next.focus();
      }
    } else if (onRow && (e.key === 'Enter' || e.key === ' ')) {
      if (!li.querySelector('.actions')) return;
      e.preventDefault();
      this.#toggleActions(li, true);
    } else if (e.key === 'Escape' && !onRow) {
      e.preventDefault();
      e.stopPropagation();
      this.#toggleActions(li, false);
      li.focus();
    }
  }

  /** One message takes the list's tab stop: the one last focused, or the newest. */
  #rove() {
    const rows = this.#list.querySelectorAll('.msg');
    let stop = this.#current ? this.#nodes.get(this.#current)?.node : null;
    if (!stop || !stop.isConnected || !stop.classList.contains('msg')) stop = rows[rows.length - 1] ?? null;
    for (const row of rows) row.tabIndex = row === stop ? 0 : -1;
  }

  #editor(item) {
    const input = h('textarea', { class: 'edit-input', rows: '2', 'aria-label': 'Edit message', dataset: { testid: 'edit-input' } });
    input.value = this.#editDraft;
    input.addEventListener('input', () => {
      this.#editDraft = input.value;
    });
    const save = () => {
      const text = input.value;
      if (text !== item.text && !validateText(text)) this.#client.editMessage(this.#room, item.id, text);
      this.#stopEdit();
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        save();
      } else if (e.key === 'Escape') {
        e.preventDefault();
        this.#stopEdit();
      }
    });
    return h(
      'div',
      { class: 'editor' },
      input,
      h(
        'div',
        { class: 'editor-actions' },
        h('span', { class: 'hint', text: 'Enter to save · Esc to cancel' }),
        h('button', { type: 'button', class: 'button small', onclick: () => this.#stopEdit() }, 'Cancel'),
        h('button', { type: 'button', class: 'button small primary', onclick: save }, 'Save'),
      ),
    );
  }

  #onScroll() {
    const root = this.#root;
    this.#atBottom = root.scrollHeight - root.scrollTop - root.clientHeight < BOTTOM_SLACK_PX;
    if (this.#atBottom) this.#jump.hidden = true;
    this.#renderJumpUnread();
    if (root.scrollTop < LOAD_OLDER_PX && this.#room !== null) this.#client.loadOlder(this.#room);
  }

  /** Pages back while the messages do not fill the view, so scrolling up is possible at all. */
  #fillViewport(room) {
    if (this.#root.scrollHeight <= this.#root.clientHeight && room.history === 'loaded' && room.store.hasMore) {
      this.#client.loadOlder(room.id);
    }
  }

  #captureAnchor() {
    const top = this.#root.scrollTop;
    for (const node of this.#list.children) {
      // Not a day separator: older messages of the same day go in below it,
      // so it stays on top and would carry the view up with it.
      if (node.dataset.testid === 'day-separator') continue;
      if (node.offsetTop + node.offsetHeight > top) return { key: node.dataset.row, offset: node.offsetTop - top };
    }
    return null;
  }

  #restoreAnchor(anchor) {
    const node = anchor && this.#nodes.get(anchor.key)?.node;
    if (node) this.#root.scrollTop = node.offsetTop - anchor.offset;
  }

  /** Keeps the "retry in Ns" countdowns of rate-limited messages current. */
  #tickRetries() {
    clearInterval(this.#ticker);
    this.#ticker = null;
    if (!this.#list.querySelector('[data-retry-at]')) return;
    this.#ticker = setInterval(() => {
      const waiting = this.#list.querySelectorAll('[data-retry-at]');
      waiting.forEach(updateCountdown);
      if (waiting.length === 0) {
        clearInterval(this.#ticker);
        this.#ticker = null;
      }
    }, 1000);
  }
}

/** A block of a message's markdown as DOM nodes (text only ever as text nodes). */
/**
 * Puts the "New messages" divider above the message of seq first (null: no
 * divider); that message starts a group of its own.
 */
function withDivider(rows, first) {
  if (first === null) return rows;
  const at = rows.findIndex((r) => r.type === 'item' && r.item.kind === 'message' && r.item.seq === first);
  if (at === -1) return rows;
  const row = rows[at];
  return [...rows.slice(0, at), { type: 'unread', key: 'unread' }, row.continued ? { ...row, continued: false } : row, ...rows.slice(at + 1)];
}

function blockNode(block) {
  if (block.type === 'pre') return h('pre', { class: 'md-pre' }, h('code', { text: block.text }));
  if (block.type === 'quote') return h('blockquote', { class: 'md-quote' }, inlineNodes(block.children));
  return h('p', { class: 'md-p' }, inlineNodes(block.children));
}

function inlineNodes(nodes) {
  return nodes.map((n) => {
    switch (n.type) {
      case 'text':
        return document.createTextNode(n.text);
      case 'code':
        return h('code', { class: 'md-code', text: n.text });
      case 'strong':
        return h('strong', {}, inlineNodes(n.children));
      case 'em':
        return h('em', {}, inlineNodes(n.children));
      case 'link': {
        const a = h('a', { target: '_blank', rel: 'noopener noreferrer nofollow' }, inlineNodes(n.children));
        a.href = n.url;
        return a;
      }
    }
    return document.createTextNode('');
  });
}

/** A file as a download link: icon, name and size. */
function fileLink(a, note = '') {
  return h(
    'a',
    {
      class: 'attachment-file',
      href: a.url,
      download: a.name,
      rel: 'noopener noreferrer',
      title: note || `Download ${a.name}`,
      dataset: { testid: 'attachment-file', key: a.key },
    },
    icon('file', 'file-icon'),
    h('span', { class: 'file-name', dataset: { testid: 'attachment-name' }, text: a.name }),
    h('span', { class: 'file-size', dataset: { testid: 'attachment-size' }, text: formatBytes(a.size) }),
    note ? h('span', { class: 'visually-hidden', text: note }) : null,
  );
}

function updateCountdown(status) {
  const seconds = Math.ceil((Number(status.dataset.retryAt) - Date.now()) / 1000);
  const retry = status.querySelector('[data-testid="retry-button"]');
  const reason = status.querySelector('.reason');
  if (seconds > 0) {
    reason.textContent = `Sending too fast. Retry in ${seconds}s`;
    retry.disabled = true;
  } else {
    reason.textContent = 'Sending too fast.';
    retry.disabled = false;
    delete status.dataset.retryAt;
  }
}

function failureText(error) {
  switch (error?.code) {
    case 'TIMEOUT':
      return 'Not delivered.';
    case 'RATE_LIMITED':
      return 'Sending too fast.';
    default:
      return error?.message || 'Not delivered.';
  }
}
