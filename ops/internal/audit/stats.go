package audit

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/chillin-chat/chillin/events"
)

// TopUsers is how many of the busiest posters Stats lists.
const TopUsers = 10

// Tally counts facts as they are added.
type Tally struct {
	kinds, rooms, days, codes, posters map[string]int
	total                              int
	first, last                        uint64
}

// NewTally returns an empty tally.
func NewTally() *Tally {
	return &Tally{kinds: map[string]int{}, rooms: map[string]int{}, days: map[string]int{},
		codes: map[string]int{}, posters: map[string]int{}}
}

// Add counts one fact.
func (t *Tally) Add(s events.Stored) error {
	t.total++
	if t.first == 0 {
		t.first = s.ID
	}
	t.last = s.ID
	t.kinds[s.Type]++
	if s.Room != "" {
		t.rooms[s.Room]++
	}
	t.days[s.At.UTC().Format("2006-01-02")]++
	switch s.Type {
	case events.MessagePosted:
		t.posters[s.User]++
	case events.CommandRejected:
		d, err := events.DecodeData[events.CommandRejectedData](s.Fact)
		if err != nil {
			return fmt.Errorf("stats seq %d: %w", s.ID, err)
		}
		t.codes[d.Code]++
	}
	return nil
}

// Count is one row of a Stats table.
type Count struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
}

// Stats is what a tally found.
type Stats struct {
	Facts    int     `json:"facts"`
	FirstSeq uint64  `json:"firstSeq,omitempty"`
	LastSeq  uint64  `json:"lastSeq,omitempty"`
	Kinds    []Count `json:"kinds"`      // by kind, alphabetical
	Rooms    []Count `json:"rooms"`      // by room, alphabetical
	Days     []Count `json:"days"`       // by UTC day, oldest first
	Rejected []Count `json:"rejections"` // by command.rejected code, most first
	Posters  []Count `json:"topPosters"` // message.posted per user, most first, at most TopUsers
}

// Stats returns the counts so far.
func (t *Tally) Stats() Stats {
	posters := byCount(t.posters)
	if len(posters) > TopUsers {
		posters = posters[:TopUsers]
	}
	return Stats{
		Facts: t.total, FirstSeq: t.first, LastSeq: t.last,
		Kinds: byKey(t.kinds), Rooms: byKey(t.rooms), Days: byKey(t.days),
		Rejected: byCount(t.codes), Posters: posters,
	}
}

func byKey(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		out = append(out, Count{k, n})
	}
	slices.SortFunc(out, func(a, b Count) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// byCount sorts most first, ties by key.
func byCount(m map[string]int) []Count {
	out := byKey(m)
	slices.SortStableFunc(out, func(a, b Count) int { return cmp.Compare(b.Count, a.Count) })
	return out
}

// WriteText prints the stats as tables.
func (s Stats) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "facts\t%d\n", s.Facts)
	if s.Facts > 0 {
		fmt.Fprintf(tw, "stream seqs\t%d–%d\n", s.FirstSeq, s.LastSeq)
	}
	for _, sec := range []struct {
		title string
		rows  []Count
	}{
		{"per kind", s.Kinds}, {"per room", s.Rooms}, {"per day (UTC)", s.Days},
		{"rejections per code", s.Rejected}, {"top posters (messages)", s.Posters},
	} {
		fmt.Fprintf(tw, "\n%s\n", sec.title)
		if len(sec.rows) == 0 {
			fmt.Fprintln(tw, "  (none)")
		}
		for _, r := range sec.rows {
			fmt.Fprintf(tw, "  %s\t%d\n", r.Key, r.Count)
		}
	}
	return tw.Flush()
}
