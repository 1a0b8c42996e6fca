package events

import (
	"unicode"
	"unicode/utf8"
)

// DefaultMaxTextRunes is the protocol's default bound on a message's length,
// in Unicode code points.
const DefaultMaxTextRunes = 2000

// MaxEmojiBytes bounds a reaction's emoji.
const MaxEmojiBytes = 32

// CheckText applies the protocol's text rules, in order: valid UTF-8, not
// only whitespace, at most maxRunes code points, no control characters other
// than newline and tab, no bidi override or isolate characters. Valid text is
// never changed; the caller stores it as sent.
func CheckText(text string, maxRunes int) *Error {
	if !utf8.ValidString(text) {
		return Errorf(CodeInvalidContent, "text is not valid UTF-8")
	}
	blank := true
	for _, r := range text {
		if !unicode.IsSpace(r) {
			blank = false
			break
		}
	}
	if blank {
		return Errorf(CodeEmptyMessage, "message is empty")
	}
	if n := utf8.RuneCountInString(text); n > maxRunes {
		return Errorf(CodeMessageTooLong, "message is %d characters long; at most %d are allowed", n, maxRunes)
	}
	for _, r := range text {
		if r == '\n' || r == '\t' {
			continue
		}
		if forbidden(r) {
			return Errorf(CodeInvalidContent, "text contains the disallowed character U+%04X", r)
		}
	}
	return nil
}

// CheckName applies the rules of a name a person gives (a display name, a
// room name or description, a file name): valid UTF-8, at most maxRunes code
// points, and none of the characters message text refuses (control
// characters, NUL included, and bidi embeddings, overrides and isolates),
// nor newline or tab, which a name has no use for. what names the field in
// the message; the code is CodeInvalidName. Blank names are the caller's
// decision.
func CheckName(what, name string, maxRunes int) *Error {
	if !utf8.ValidString(name) {
		return Errorf(CodeInvalidName, "%s is not valid UTF-8", what)
	}
	if n := utf8.RuneCountInString(name); n > maxRunes {
		return Errorf(CodeInvalidName, "%s is %d characters long; at most %d are allowed", what, n, maxRunes)
	}
	for _, r := range name {
		if forbidden(r) {
			return Errorf(CodeInvalidName, "%s contains the disallowed character U+%04X", what, r)
		}
	}
	return nil
}

// CheckEmoji accepts a reaction's emoji: 1 to MaxEmojiBytes bytes of valid
// UTF-8 with no whitespace, control or bidi override characters.
func CheckEmoji(e string) *Error {
	if len(e) == 0 || len(e) > MaxEmojiBytes || !utf8.ValidString(e) {
		return Errorf(CodeInvalidContent, "emoji must be 1 to %d bytes of UTF-8", MaxEmojiBytes)
	}
	for _, r := range e {
		if unicode.IsSpace(r) || forbidden(r) {
			return Errorf(CodeInvalidContent, "emoji contains the disallowed character U+%04X", r)
		}
	}
	return nil
}

// forbidden reports control characters (Cc) and the bidi embedding, override
// and isolate characters U+202A–U+202E and U+2066–U+2069.
func forbidden(r rune) bool {
	return unicode.IsControl(r) || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}
