package legacy

import (
	"fmt"
	"io"
	"strings"
)

// Summary is what an import did.
type Summary struct {
	Dir      string `json:"dir"`
	Users    Tally  `json:"users"`
	Rooms    Tally  `json:"rooms"`
	Messages Tally  `json:"messages"`
	// Joins is how many member.joined facts this run appended (a message's
	// author joins its room just before their first message there).
	Joins int `json:"joins"`
	// NoCredential counts the users without a password: names that only
	// wrote messages or created rooms. They keep their history and cannot
	// log in.
	NoCredential int `json:"noCredential"`
	// Renamed lists every legacy name whose Chillin id differs from it.
	Renamed []Renamed `json:"renamed"`
	// Skipped lists every legacy record left out, with why.
	Skipped []Skipped `json:"skipped"`
	// Notes are changes the import made to what it brought over.
	Notes []string `json:"notes"`
}

// Tally counts one kind of record.
type Tally struct {
	InFiles  int `json:"inFiles"`
	Imported int `json:"imported"` // appended by this run
	Present  int `json:"present"`  // found in the log, from an earlier run
	Skipped  int `json:"skipped"`
}

// Renamed is a legacy name that got another id, and why.
type Renamed struct {
	Kind   string `json:"kind"` // "user" or "room"
	Legacy string `json:"legacy"`
	ID     string `json:"id"`
	Why    string `json:"why"`
}

// WriteText prints the summary for a person.
func (s *Summary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "Imported %s\n", s.Dir)
	line := func(what string, t Tally, extra string) {
		fmt.Fprintf(w, "  %-9s %4d in the files: %d imported, %d already there, %d skipped%s\n",
			what, t.InFiles, t.Imported, t.Present, t.Skipped, extra)
	}
	noCred := ""
	if s.NoCredential > 0 {
		noCred = fmt.Sprintf(" (%d without a password, who keep their messages and cannot log in)", s.NoCredential)
	}
	line("users", s.Users, noCred)
	line("rooms", s.Rooms, "")
	line("messages", s.Messages, fmt.Sprintf(" (%d joins)", s.Joins))
	if len(s.Renamed) > 0 {
		fmt.Fprintln(w, "Renamed (users log in with the new name):")
		for _, r := range s.Renamed {
			fmt.Fprintf(w, "  %s %s → %s: %s\n", r.Kind, quote(r.Legacy), r.ID, r.Why)
		}
	}
	if len(s.Skipped) > 0 {
		fmt.Fprintln(w, "Skipped:")
		for _, k := range s.Skipped {
			fmt.Fprintf(w, "  %s: %s\n", k.Where, k.Reason)
		}
	}
	if len(s.Notes) > 0 {
		fmt.Fprintln(w, "Notes:")
		for _, n := range s.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
}

// renamed records why a legacy name got id, if it differs from the name.
func (s *Summary) renamed(kind, legacy, base, id string, taken []string) {
	if id == legacy {
		return
	}
	var why []string
	if base != legacy {
		switch kind {
		case "user":
			why = append(why, "not a valid Chillin username (2-32 of a-z, 0-9, '_', '-')")
		default:
			why = append(why, "room ids are the name lowercased, other characters as '-'")
		}
	}
	why = append(why, taken...)
	s.Renamed = append(s.Renamed, Renamed{Kind: kind, Legacy: legacy, ID: id, Why: strings.Join(why, "; ")})
}
