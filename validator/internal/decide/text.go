package decide

import "github.com/chillin-chat/chillin/events"

// DefaultMaxTextRunes is the protocol's default bound on a message's length,
// in Unicode code points (the rules themselves are events.CheckText).
const DefaultMaxTextRunes = events.DefaultMaxTextRunes
