// @ts-check
// The record ChatClient keeps for each of the user's rooms. Views read it
// (client.room(id), client.rooms()); the client's parts (read state,
// members, sends, history) update it.

import { RoomStore } from './roomstore.js';

/**
 * @typedef {object} Room
 * @property {string} id
 * @property {any} info the room as the server last described it, null until then
 * @property {RoomStore} store the timeline
 * @property {boolean} joined joined on the current connection
 * @property {Error | null} error why the last join failed
 * @property {number} unread unread messages from others
 * @property {number} mentions unread messages that name the user (@username)
 * @property {boolean} unreadMore more may be unread than counted (the server counts a window of messages)
 * @property {number} lastRead the room seq read up to, the account's (room:read)
 * @property {number | null} divider the read position the "New messages" divider follows, while on screen
 * @property {number} addedAt when opened here (a room list may lag behind it)
 * @property {boolean} joining a room:join of a re-join on its way
 * @property {string[]} typing who else is typing
 * @property {boolean} syncing a room:sync on its way
 * @property {'idle' | 'loading' | 'loaded' | 'error'} history the latest page of history
 * @property {boolean} loadingOlder an older page on its way
 * @property {number} memberCount
 * @property {number} onlineCount
 * @property {string | null} membersNext the cursor of the member page after those held, null when none follows
 * @property {boolean} membersPaged whether pages after the first were loaded
 * @property {boolean} membersLoading a member page asked for is on its way
 * @property {boolean} membersFailed the last member page asked for could not be loaded
 */

/**
 * A room just opened here: nothing joined, loaded or read yet.
 * @param {string} id
 * @returns {Room}
 */
export function newRoom(id) {
  return {
    id,
    info: null,
    store: new RoomStore(),
    joined: false,
    error: null,
    unread: 0,
    mentions: 0,
    unreadMore: false,
    lastRead: 0,
    divider: null,
    addedAt: -Infinity,
    joining: false,
    typing: [],
    syncing: false,
    history: 'idle',
    loadingOlder: false,
    memberCount: 0,
    onlineCount: 0,
    membersNext: null,
    membersPaged: false,
    membersLoading: false,
    membersFailed: false,
  };
}
