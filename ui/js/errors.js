// @ts-check
// ChatError carries a stable code (the server's UPPER_SNAKE codes, or one of
// the local codes below) and a message fit to show to the user.

export const LocalCode = Object.freeze({
  DISCONNECTED: 'DISCONNECTED',
  TIMEOUT: 'TIMEOUT',
  NETWORK: 'NETWORK',
});

export class ChatError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{status?: number, retryAfterMs?: number}} [options]
   */
  constructor(code, message, { status = 0, retryAfterMs = 0 } = {}) {
    super(message);
    this.name = 'ChatError';
    this.code = code;
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The rules of the account form, as shown beside its fields (docs/protocol.md). */
export const Rules = Object.freeze({
  username: '2 to 32 characters: letters, digits, _ or -, starting with a letter or digit.',
  password: 'At least 8 characters.',
  displayName: 'Optional. What others see instead of your username, up to 64 characters.',
  roomPassword: 'At least 8 characters. Members need it to join.',
});

const USERNAME = /^[a-z0-9][a-z0-9_-]{1,31}$/;

/**
 * What is wrong with a username (as typed: it is stored lowercase), or ''.
 * @param {string} name
 */
export function usernameProblem(name) {
  return USERNAME.test(name.trim().toLowerCase()) ? '' : `That username cannot be used. ${Rules.username}`;
}

/**
 * What is wrong with a new password, or ''.
 * @param {string} password
 */
export function passwordProblem(password) {
  if (password.length < 8) return 'The password is too short: it needs at least 8 characters.';
  if (password.length > 256) return 'The password is too long: at most 256 characters.';
  return '';
}

/**
 * What is wrong with a display name, or ''.
 * @param {string} name
 */
export function displayNameProblem(name) {
  return [...name].length > 64 ? 'The display name is too long: at most 64 characters.' : '';
}

/**
 * A wait for people: "30 seconds", "1 minute", "15 minutes".
 * @param {number} ms
 */
export function waitText(ms) {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

/** @type {Readonly<Record<string, string>>} */
const PLAIN = Object.freeze({
  INVALID_CREDENTIALS: 'Wrong username or password.',
  USERNAME_TAKEN: 'That username is taken. Try another one.',
  INVALID_USERNAME: `That username cannot be used. ${Rules.username}`,
  INVALID_PASSWORD: 'That password cannot be used: it needs 8 to 256 characters.',
  INVALID_NAME: 'That name cannot be used: keep it short, on one line, without special control characters.',
  INVALID_ROOM_NAME: 'That room name cannot be used: use letters or digits, at most 100 characters.',
  ROOM_EXISTS: 'A room with that name already exists. Pick another name, or join it from the list.',
  WRONG_PASSWORD: 'That password is not right.',
  NO_SUCH_ROOM: 'That room does not exist any more.',
  NOT_MEMBER: 'Join the room first.',
  SERVER_BUSY: 'The server is busy. Try again in a moment.',
  UNAVAILABLE: 'The server cannot do this right now. Try again in a moment.',
  TIMEOUT: 'The server took too long to answer. Try again in a moment: if it was a new account or room, it may exist already.',
  RATE_LIMITED: 'Too many requests at once. Wait a moment and try again.',
  NETWORK: 'Chillin cannot be reached. Check your connection and try again.',
});

/**
 * An error in plain words for people: the server's codes (docs/protocol.md)
 * mapped to sentences; a code not known here keeps the server's message.
 * @param {{code?: string, message?: string, retryAfterMs?: number}} err
 */
export function plainError(err) {
  if (err.code === 'TOO_MANY_ATTEMPTS') {
    return err.retryAfterMs > 0 ? `Too many attempts. Try again in ${waitText(err.retryAfterMs)}.` : 'Too many attempts. Try again later.';
  }
  return PLAIN[err.code ?? ''] ?? err.message ?? 'Something went wrong.';
}
