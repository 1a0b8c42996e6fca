package cachewriter

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/cachelayout"
	"github.com/chillin-chat/chillin/projector/internal/projtest"
)

// stored gives facts the stream sequences 1, 2, 3, … they get in a fresh stream.
func stored(facts []events.Fact) []events.Stored {
	out := make([]events.Stored, len(facts))
	for i, f := range facts {
		out[i] = events.Stored{ID: uint64(i + 1), Fact: f}
	}
	return out
}

func TestPlanFoldsEveryRoomFact(t *testing.T) {
	facts := stored(projtest.Scenario(t))
	p := MakePlan(facts)
	if len(p.Skipped) != 0 {
		t.Fatalf("skipped %+v", p.Skipped)
	}
	var got []string
	for i := 0; i < len(p.Args); i += cachelayout.OpFields {
		parts := make([]string, cachelayout.OpFields)
		for j := range cachelayout.OpFields {
			parts[j] = fmt.Sprint(p.Args[i+j])
		}
		// The time is checked once below; leave it out of the table.
		parts[5] = "t"
		got = append(got, strings.Join(parts, "|"))
	}
	want := []string{
		"c|5|general|1|alice|t|General|Anything goes|0|",
		"c|6|secret|1|bob|t|Secret||1|",
		"j|7|general|2|bob|t||||",
		`p|8|general|3|alice|t|hello <b>world</b>` + "\n" + `second line|c-a1|[{"key":"att/general/cat.png","name":"cat.png","contentType":"image/png","size":2048}]|`,
		"p|9|general|4|bob|t|hi alice|c-b1|[]|8",
		"e|10|general|5|alice|t|8|hello again||",
		"ra|11|general|6|bob|t|8|👍||",
		"ra|12|general|7|alice|t|9|🎉||",
		"rr|13|general|8|bob|t|8|👍||",
		"ra|14|general|9|bob|t|8|❤️||",
		"d|15|general|10|alice|t|8|||",
		"l|18|general|11|bob|t||||",
		`p|20|secret|2|bob|t|psst|c-b2|[{"key":"att/secret/doc.pdf","name":"doc.pdf","contentType":"application/pdf","size":4096}]|`,
	}
	if p.Ops != len(want) || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("ops (%d):\n%s\nwant:\n%s", p.Ops, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if at := p.Args[5]; at != fmt.Sprint(projtest.At(5).UnixMicro()) {
		t.Fatalf("time of the first op %v, want µs since 1970", at)
	}
}

func TestPlanSkipsUnreadablePayloads(t *testing.T) {
	bad := events.Stored{ID: 3, Fact: events.Fact{Type: events.MessagePosted, V: 1, Room: "r", Seq: 2, User: "u", Data: json.RawMessage(`{"text": 5}`)}}
	good := events.Stored{ID: 4, Fact: projtest.Fact(t, 4, events.MemberJoined, "r", 3, "v", events.MemberJoinedData{})}
	p := MakePlan([]events.Stored{bad, good})
	if p.Ops != 1 || len(p.Skipped) != 1 || p.Skipped[0].Seq != 3 || p.Skipped[0].Type != events.MessagePosted {
		t.Fatalf("plan %+v", p)
	}
}
