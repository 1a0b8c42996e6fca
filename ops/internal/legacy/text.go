package legacy

import "github.com/chillin-chat/chillin/events"

// MaxTextRunes is the protocol's default bound on a message, in code points.
const MaxTextRunes = events.DefaultMaxTextRunes

// textProblem applies the text rules every message in the log obeys
// (events.CheckText, as the validator does for live traffic). It returns why
// a legacy message cannot be imported, or "". Text that passes is imported
// exactly as it was, HTML and all.
func textProblem(text string) string {
	if e := events.CheckText(text, MaxTextRunes); e != nil {
		return e.Message
	}
	return ""
}
