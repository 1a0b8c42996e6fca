import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ChatError, displayNameProblem, passwordProblem, plainError, usernameProblem, waitText } from '../js/errors.js';

describe('form rules', () => {
  it('checks usernames as the server does (typed in any case: stored lowercase)', () => {
    for (const ok of ['al', 'Alice', 'bob_jones-2', '9lives', 'a'.repeat(32)]) assert.equal(usernameProblem(ok), '', ok);
    for (const bad of ['a', '_al', '-al', 'al!', 'a b', 'a'.repeat(33), '']) assert.match(usernameProblem(bad), /2 to 32 characters/, bad);
  });

  it('checks passwords (8 to 256) and display names (64 at most)', () => {
    assert.match(passwordProblem('short'), /at least 8/);
    assert.equal(passwordProblem('12345678'), '');
    assert.match(passwordProblem('x'.repeat(257)), /at most 256/);
    assert.equal(displayNameProblem('é'.repeat(64)), '');
    assert.match(displayNameProblem('x'.repeat(65)), /at most 64/);
  });
});

describe('plainError', () => {
  it('says what the server’s codes mean', () => {
    assert.equal(plainError(new ChatError('INVALID_CREDENTIALS', 'invalid credentials')), 'Wrong username or password.');
    assert.match(plainError(new ChatError('INVALID_PASSWORD', 'password: length')), /8 to 256 characters/);
    assert.match(plainError(new ChatError('INVALID_USERNAME', 'username: pattern')), /2 to 32 characters/);
    assert.match(plainError(new ChatError('SERVER_BUSY', 'busy')), /busy/);
    assert.equal(plainError(new ChatError('SOMETHING_NEW', 'The server says so')), 'The server says so', 'unknown codes keep the message');
  });

  it('turns a wait into minutes or seconds', () => {
    assert.equal(plainError(new ChatError('TOO_MANY_ATTEMPTS', 'too many attempts; try again in 900 s', { retryAfterMs: 900000 })), 'Too many attempts. Try again in 15 minutes.');
    assert.equal(waitText(1), '1 second');
    assert.equal(waitText(45000), '45 seconds');
    assert.equal(waitText(61000), '2 minutes');
    assert.equal(waitText(60000), '1 minute');
  });
});
