package events

import (
	"encoding/json"
	"testing"
)

// A message's attachments reach clients with the url the gateway serves
// them at; the fact itself never stores one.
func TestEventFrameAttachmentURL(t *testing.T) {
	att := Attachment{Key: "a/mfrggzdfmztwq2lknnwg23tpoa/cat.png", Name: "cat.png", ContentType: "image/png", Size: 2048}
	f, err := NewFact(MessagePosted, "lobby", 2, "alice", "c1", fixedTime, MessagePostedData{Text: "look", ClientID: "k1", Attachments: []Attachment{att}})
	if err != nil {
		t.Fatal(err)
	}
	var stored map[string]any
	if err := json.Unmarshal(f.Data, &stored); err != nil {
		t.Fatal(err)
	}
	if a := stored["attachments"].([]any)[0].(map[string]any); a["url"] != nil {
		t.Fatalf("the fact stores a url: %s", f.Data)
	}
	b, err := EventFrame(Stored{ID: 7, Fact: f})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Data struct {
			Data struct {
				Attachments []map[string]any `json:"attachments"`
			}
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"key": att.Key, "name": "cat.png", "contentType": "image/png", "size": 2048.0, "url": "/api/files/" + att.Key}
	if len(got.Data.Data.Attachments) != 1 {
		t.Fatalf("frame %s: want one attachment", b)
	}
	for k, v := range want {
		if got.Data.Data.Attachments[0][k] != v {
			t.Errorf("attachment %s = %v, want %v (frame %s)", k, got.Data.Data.Attachments[0][k], v, b)
		}
	}
	// A message without attachments has an empty list, not null.
	f, _ = NewFact(MessagePosted, "lobby", 3, "alice", "c2", fixedTime, MessagePostedData{Text: "plain", ClientID: "k2"})
	m := PostedMessage(Stored{ID: 8, Fact: f}, MessagePostedData{Text: "plain", ClientID: "k2"})
	if enc, _ := json.Marshal(m); !json.Valid(enc) || m.Attachments == nil || len(m.Attachments) != 0 {
		t.Fatalf("attachments %v, want []", m.Attachments)
	}
	// Decoding a message (as a cache or a client does) keeps the fields.
	var back Message
	enc, _ := json.Marshal(PostedMessage(Stored{ID: 7, Fact: f}, MessagePostedData{Attachments: []Attachment{att}}))
	if err := json.Unmarshal(enc, &back); err != nil || len(back.Attachments) != 1 || Attachment(back.Attachments[0]) != att {
		t.Fatalf("round trip: %+v, %v", back.Attachments, err)
	}
}
