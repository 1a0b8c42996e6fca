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
   * @param {{status?: number}} [options]
   */
  constructor(code, message, { status = 0 } = {}) {
    super(message);
    this.name = 'ChatError';
    this.code = code;
    this.status = status;
  }
}
