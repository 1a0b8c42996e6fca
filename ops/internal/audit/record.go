package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chillin-chat/chillin/events"
)

// Record is one exported fact. Its JSON form, with the fields in this order
// and Data's keys sorted, is the canonical JSON the hash chain covers.
type Record struct {
	Stream  uint64          `json:"stream"`            // stream seq in CHAT_EVT
	Room    string          `json:"room,omitempty"`    // room facts only
	RoomSeq uint64          `json:"roomSeq,omitempty"` // room facts only
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`
	Kind    string          `json:"kind"`
	Cmd     string          `json:"cmd,omitempty"` // the command that caused the fact
	Data    json.RawMessage `json:"data"`
	Hash    string          `json:"hash,omitempty"`
}

// NewRecord makes the export record of a stored fact, its data redacted.
func NewRecord(s events.Stored) (Record, error) {
	data, err := Redact(s.Data)
	if err != nil {
		return Record{}, fmt.Errorf("seq %d %s: %w", s.ID, s.Type, err)
	}
	return Record{
		Stream: s.ID, Room: s.Room, RoomSeq: s.Seq, Time: s.At.UTC(),
		Actor: s.User, Kind: s.Type, Cmd: s.Cmd, Data: data,
	}, nil
}

// secretFields are the data fields known to hold credentials. A session
// fact's session is the SHA-256 of a bearer token, the key of the sessions
// table: whoever holds it can look a live session up, so it is one too.
var secretFields = []string{"passwordHash", "legacySha256", "legacyPasswordSha256", "session"}

// SecretField reports whether a data field may hold a credential and so is
// never exported: the fields known to (passwordHash, legacySha256,
// legacyPasswordSha256, session) and, so that a field added later is not
// leaked by default, any whose name contains password, secret, token or
// sha256.
func SecretField(name string) bool {
	if slices.Contains(secretFields, name) {
		return true
	}
	n := strings.ToLower(name)
	for _, w := range []string{"password", "secret", "token", "sha256"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Redact returns data without its secret fields (SecretField), at any
// depth, re-encoded with sorted keys. Numbers are kept exactly as written.
func Redact(data json.RawMessage) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("redact data: %w", err)
	}
	out, err := json.Marshal(strip(v))
	if err != nil {
		return nil, fmt.Errorf("redact data: %w", err)
	}
	return out, nil
}

func strip(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if SecretField(k) {
				delete(x, k)
				continue
			}
			x[k] = strip(e)
		}
	case []any:
		for i, e := range x {
			x[i] = strip(e)
		}
	}
	return v
}

// Filter selects facts to export. Zero fields select everything.
type Filter struct {
	Room  string   // only this room's facts
	User  string   // only facts whose actor is this user
	Kinds []string // only these fact types (command.rejected included)
	From  uint64   // stream seq >= From
	To    uint64   // stream seq <= To (0: no bound)
	Since time.Time
	Until time.Time // time < Until (zero: no bound)
	// Rejections reads the refusals kept on CHAT_REJ (ADR 0009) instead of
	// the log; From and To are then CHAT_REJ's stream seqs. The log still
	// holds the refusals recorded before CHAT_REJ existed.
	Rejections bool
}

// Match reports whether the filter selects s.
func (f Filter) Match(s events.Stored) bool {
	switch {
	case f.Room != "" && s.Room != f.Room,
		f.User != "" && s.User != f.User,
		len(f.Kinds) > 0 && !slices.Contains(f.Kinds, s.Type),
		s.ID < f.From,
		f.To != 0 && s.ID > f.To,
		!f.Since.IsZero() && s.At.Before(f.Since),
		!f.Until.IsZero() && !s.At.Before(f.Until):
		return false
	}
	return true
}

// Subject is the narrowest subject filter, of CHAT_EVT or with Rejections
// of CHAT_REJ, that holds every fact the filter selects.
func (f Filter) Subject() string {
	if f.Rejections {
		if f.User != "" {
			return events.RejSubject(f.User)
		}
		return events.AllRejSubjects
	}
	if f.Room != "" {
		return events.RoomSubject(f.Room)
	}
	return "chat.evt.>"
}
