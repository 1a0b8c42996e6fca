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

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{"plain", "Alice Sm", true},
		{"accents and emoji", "Zoë 🎉", true},
		{"empty", "", true},
		{"exactly max", strings.Repeat("é", 10), true},
		{"max plus one", strings.Repeat("é", 11), false},
		{"NUL", "al\x00ice", false},
		{"newline", "a\nb", false},
		{"tab", "a\tb", false},
		{"escape", "\x1b[31m", false},
		{"C1 control", "a\u0085", false},
		{"RLO U+202E", "evil\u202egnp.exe", false},
		{"LRI U+2066", "a\u2066b", false},
		{"PDI U+2069", "a\u2069b", false},
		{"invalid UTF-8", "a\xffb", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := CheckName("name", tc.value, 10)
			if tc.ok != (e == nil) {
				t.Fatalf("CheckName(%q) = %v, want ok=%v", tc.value, e, tc.ok)
			}
			if e != nil && e.Code != CodeInvalidName {
				t.Fatalf("code %s, want %s", e.Code, CodeInvalidName)
			}
		})
	}
}

func TestValidClientID(t *testing.T) {
	for id, want := range map[string]bool{
		"1b4e28ba-2fa1-11d2-883f-0016d3cca427": true,
		"c-0123456789abcdef":                   true,
		"run.7:3_x":                            true,
		"":                                     false,
		"a b":                                  false,
		"a\x00":                                false,
		strings.Repeat("c", MaxClientIDLen):    true,
		strings.Repeat("c", MaxClientIDLen+1):  false,
		"é":                                    false,
	} {
		if got := ValidClientID(id); got != want {
			t.Errorf("ValidClientID(%q) = %v, want %v", id, got, want)
		}
	}
}
