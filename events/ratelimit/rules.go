package ratelimit

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chillin-chat/chillin/events"
)

// Kind is what a user does that is counted on its own.
type Kind string

// The kinds of the protocol's commands, one window each.
const (
	Message    Kind = "msg"      // message.send
	Edit       Kind = "edit"     // message.edit
	Delete     Kind = "delete"   // message.delete
	Reaction   Kind = "reaction" // reaction.add and reaction.remove
	Membership Kind = "member"   // room.join and room.leave
	Presence   Kind = "presence" // presence:set
	Typing     Kind = "typing"   // typing:start and typing:stop
	RoomCreate Kind = "room"     // POST /api/rooms
	Read       Kind = "read"     // room.read (room:read frames, coalesced by the gateway)
)

// Kinds lists every kind, in the order the documentation gives them.
var Kinds = []Kind{Message, Edit, Delete, Reaction, Membership, Presence, Typing, RoomCreate, Read}

// Rule is the limit of one kind: Limit actions in any sliding Window.
type Rule struct {
	Limit  int
	Window time.Duration
}

func (r Rule) String() string { return strconv.Itoa(r.Limit) + "/" + r.Window.String() }

// Rules holds a rule per limited kind.
type Rules map[Kind]Rule

// DefaultRules are the limits of a deployment that chose none: roomy for a
// person, tight for a script.
func DefaultRules() Rules {
	return Rules{
		Message:    {10, 10 * time.Second},
		Edit:       {10, 10 * time.Second},
		Delete:     {10, 10 * time.Second},
		Reaction:   {20, 10 * time.Second},
		Membership: {10, 10 * time.Second},
		Presence:   {5, 10 * time.Second},
		Typing:     {20, 10 * time.Second},
		RoomCreate: {10, time.Hour},
		Read:       {30, 10 * time.Second},
	}
}

// KindOf returns the kind a command type is counted as, and false for a
// type that is not limited.
func KindOf(cmdType string) (Kind, bool) {
	switch cmdType {
	case events.CmdMessageSend:
		return Message, true
	case events.CmdMessageEdit:
		return Edit, true
	case events.CmdMessageDelete:
		return Delete, true
	case events.CmdReactionAdd, events.CmdReactionRemove:
		return Reaction, true
	case events.CmdRoomJoin, events.CmdRoomLeave:
		return Membership, true
	case events.CmdRoomRead:
		return Read, true
	}
	return "", false
}

// ParseRules returns base with the rules of spec laid over it. spec is a
// comma-separated list of kind=limit/window, e.g. "edit=20/1m,room=5/1h";
// empty changes nothing.
func ParseRules(base Rules, spec string) (Rules, error) {
	out := make(Rules, len(base))
	for k, r := range base {
		out[k] = r
	}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, rule, ok := strings.Cut(part, "=")
		limit, window, ok2 := strings.Cut(rule, "/")
		if !ok || !ok2 {
			return nil, fmt.Errorf("rate limits: %q is not kind=limit/window", part)
		}
		k := Kind(strings.TrimSpace(name))
		if !known(k) {
			return nil, fmt.Errorf("rate limits: unknown kind %q", k)
		}
		n, err := strconv.Atoi(strings.TrimSpace(limit))
		if err != nil {
			return nil, fmt.Errorf("rate limits: %s: limit: %w", k, err)
		}
		w, err := time.ParseDuration(strings.TrimSpace(window))
		if err != nil {
			return nil, fmt.Errorf("rate limits: %s: window: %w", k, err)
		}
		out[k] = Rule{n, w}
	}
	return out, out.Validate()
}

// Validate reports a rule that is not a limit.
func (rs Rules) Validate() error {
	for _, k := range Kinds {
		r, ok := rs[k]
		if ok && (r.Limit < 1 || r.Window < time.Millisecond) {
			return fmt.Errorf("rate limits: %s: %d per %v is not a limit", k, r.Limit, r.Window)
		}
	}
	for k := range rs {
		if !known(k) {
			return fmt.Errorf("rate limits: unknown kind %q", k)
		}
	}
	return nil
}

// String is the rules in ParseRules' syntax, in Kinds order.
func (rs Rules) String() string {
	var b []string
	for _, k := range Kinds {
		if r, ok := rs[k]; ok {
			b = append(b, string(k)+"="+r.String())
		}
	}
	return strings.Join(b, ",")
}

func known(k Kind) bool {
	for _, kk := range Kinds {
		if k == kk {
			return true
		}
	}
	return false
}
