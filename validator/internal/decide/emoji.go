package decide

import (
	"unicode"

	"github.com/rivo/uniseg"

	"github.com/chillin-chat/chillin/events"
)

// MaxReactionEmojis bounds the distinct emoji on one message. Reacting with
// an emoji already on the message is always possible.
const MaxReactionEmojis = 20

const (
	zwj           = '\u200D' // zero width joiner, between the parts of a sequence
	vs16          = '\uFE0F' // emoji presentation selector
	keycapMark    = '\u20E3'
	tagCancel     = '\U000E007F' // ends a tag sequence
	blackFlag     = '\U0001F3F4' // the base of the subdivision flags
	regionalFirst = '\U0001F1E6'
	regionalLast  = '\U0001F1FF'
)

// CheckEmoji accepts a reaction: the byte and character rules of
// events.CheckEmoji, then exactly one grapheme cluster that is an emoji: a
// pictograph (Extended_Pictographic), optionally with the emoji
// presentation selector and a skin tone modifier; such pictographs joined
// by U+200D (ZWJ sequences: families, professions, gendered forms); a flag
// (two regional indicators); a keycap (0-9, # or *, U+FE0F, U+20E3); or a
// tag sequence (the subdivision flags). Anything else is INVALID_EMOJI.
func CheckEmoji(e string) *events.Error {
	if err := events.CheckEmoji(e); err != nil {
		return err
	}
	if uniseg.GraphemeClusterCount(e) != 1 || !isEmoji([]rune(e)) {
		return events.Errorf(events.CodeInvalidEmoji, "a reaction is one emoji")
	}
	return nil
}

// isEmoji reports whether rs, one grapheme cluster, is an emoji.
func isEmoji(rs []rune) bool {
	switch {
	case len(rs) == 2 && isRegional(rs[0]) && isRegional(rs[1]):
		return true
	case isKeycapBase(rs[0]):
		return len(rs) == 3 && rs[1] == vs16 && rs[2] == keycapMark ||
			len(rs) == 2 && rs[1] == keycapMark
	case rs[0] == blackFlag && len(rs) > 2 && rs[len(rs)-1] == tagCancel:
		for _, r := range rs[1 : len(rs)-1] {
			if r < '\U000E0020' || r > '\U000E007E' {
				return false
			}
		}
		return true
	}
	// pictograph (VS16)? (modifier)? (ZWJ pictograph (VS16)? (modifier)?)*
	for i := 0; ; {
		if i >= len(rs) || !unicode.Is(extendedPictographic, rs[i]) {
			return false
		}
		i++
		if i < len(rs) && rs[i] == vs16 {
			i++
		}
		if i < len(rs) && isModifier(rs[i]) {
			i++
		}
		if i == len(rs) {
			return true
		}
		if rs[i] != zwj {
			return false
		}
		i++
	}
}

func isRegional(r rune) bool { return r >= regionalFirst && r <= regionalLast }

func isModifier(r rune) bool { return r >= '\U0001F3FB' && r <= '\U0001F3FF' }

func isKeycapBase(r rune) bool { return r >= '0' && r <= '9' || r == '#' || r == '*' }
