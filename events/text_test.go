package events

import (
	"strings"
	"testing"
)

func TestCheckText(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		max  int
		code string
	}{
		{"plain", "hello", 10, ""},
		{"empty", "", 10, CodeEmptyMessage},
		{"spaces", "   ", 10, CodeEmptyMessage},
		{"unicode spaces", "\u00a0\u3000\u2003", 10, CodeEmptyMessage},
		{"exactly max ascii", strings.Repeat("a", 10), 10, ""},
		{"max plus one", strings.Repeat("a", 11), 10, CodeMessageTooLong},
		{"emoji counts as one code point", strings.Repeat("😀", 10), 10, ""},
		{"emoji max plus one", strings.Repeat("😀", 11), 10, CodeMessageTooLong},
		{"tab and newline inside", "a\tb\nc", 10, ""},
		{"carriage return", "a\r\nb", 10, CodeInvalidContent},
		{"NUL", "a\x00b", 10, CodeInvalidContent},
		{"escape", "a\x1b[31mred", 20, CodeInvalidContent},
		{"DEL", "a\x7fb", 10, CodeInvalidContent},
		{"C1 control", "a\u0085b", 10, CodeInvalidContent},
		{"RLO U+202E", "\u202e", 10, CodeInvalidContent},
		{"LRE U+202A", "x\u202ay", 10, CodeInvalidContent},
		{"PDF U+202C", "x\u202cy", 10, CodeInvalidContent},
		{"LRI U+2066", "x\u2066y", 10, CodeInvalidContent},
		{"PDI U+2069", "x\u2069y", 10, CodeInvalidContent},
		{"U+2065 is not an isolate", "x\u2065y", 10, ""},
		{"U+2029 paragraph separator is whitespace, not refused", "a\u2029b", 10, ""},
		{"invalid UTF-8", "\xc3\x28", 10, CodeInvalidContent},
		{"truncated UTF-8", "ok\xe2\x82", 10, CodeInvalidContent},
		{"invalid UTF-8 before length", strings.Repeat("a", 50) + "\xff", 10, CodeInvalidContent},
		{"empty before length", strings.Repeat(" ", 50), 10, CodeEmptyMessage},
		{"length before control characters", strings.Repeat("\x00", 11) + "a", 10, CodeMessageTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := CheckText(tc.text, tc.max)
			got := ""
			if e != nil {
				got = e.Code
			}
			if got != tc.code {
				t.Fatalf("CheckText(%q, %d) = %v, want %q", tc.text, tc.max, e, tc.code)
			}
		})
	}
}

func TestCheckEmoji(t *testing.T) {
	for _, tc := range []struct {
		emoji string
		ok    bool
	}{
		{"👍", true},
		{"👨‍👩‍👧‍👦", true},
		{"+1", true},
		{"", false},
		{strings.Repeat("a", 32), true},
		{strings.Repeat("a", 33), false},
		{"a b", false},
		{"\t", false},
		{"x\x00", false},
		{"\u202e", false},
		{"\xff", false},
	} {
		if got := CheckEmoji(tc.emoji) == nil; got != tc.ok {
			t.Errorf("CheckEmoji(%q) ok = %v, want %v", tc.emoji, got, tc.ok)
		}
	}
}
