package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/media"
	"github.com/chillin-chat/chillin/events/objstore"
)

// shownMessage is a message.posted event's message as a reader sees it.
type shownMessage struct {
	ID          uint64
	Text        string
	Deleted     bool
	Attachments []json.RawMessage
}

// checkShown checks the message.posted events of evs: the deleted message
// is a tombstone, the edited one carries its current text, and nothing
// carries the deleted text or file. It reports how many edits and deletes
// follow, which clients fold.
func checkShown(t *testing.T, where string, evs []eventData, deleted, edited uint64, current string) {
	t.Helper()
	var posts, changes int
	for _, ev := range evs {
		if bytes.Contains(ev.Data, []byte("secret")) {
			t.Errorf("%s: seq %d (%s) carries the deleted message: %s", where, ev.Seq, ev.Kind, ev.Data)
		}
		switch ev.Kind {
		case events.MessageEdited, events.MessageDeleted:
			changes++
		case events.MessagePosted:
			var m shownMessage
			if err := json.Unmarshal(ev.Data, &m); err != nil {
				t.Fatal(err)
			}
			switch m.ID {
			case deleted:
				posts++
				if !m.Deleted || m.Text != "" || len(m.Attachments) != 0 {
					t.Errorf("%s: the deleted message is shown as %s", where, ev.Data)
				}
			case edited:
				posts++
				if m.Deleted || m.Text != current {
					t.Errorf("%s: the edited message is shown as %s, want its text %q", where, ev.Data, current)
				}
			}
		}
	}
	if posts != 2 || changes != 3 {
		t.Errorf("%s: %d of the 2 posts and %d of the 3 changes shown", where, posts, changes)
	}
}

// syncAll reads a room with room:sync pages of limit facts from after 0,
// until complete.
func syncAll(t *testing.T, c *client, room string, limit int) []eventData {
	t.Helper()
	var out []eventData
	after := uint64(0)
	for {
		reply, _ := c.request("room:sync", map[string]any{"room": room, "after": after, "limit": limit})
		if reply["ok"] != true {
			t.Fatalf("sync: %v", reply)
		}
		b, _ := json.Marshal(reply["events"])
		var page []eventData
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if reply["complete"] == true {
			return out
		}
		after = page[len(page)-1].Seq
	}
}

// A deleted message is gone for a user who joins after it: the join
// backfill, a join with after 0, room:sync (pages cut anywhere) and REST
// history show a tombstone, and an edited message its current text; the
// deleted message's file answers 410 FILE_DELETED and is removed from
// storage.
func TestDeletedGoneForLaterJoiners(t *testing.T) {
	s := newSystem(t, withStorage(0))
	alice, bob := s.register("alice"), s.register("bob")
	room := s.createRoom(alice, "Regrets")
	ca := s.dial(alice)
	ca.join(room, nil)

	cat := pngFile(t)
	key := s.upload(alice, "secret.png", "image/png", "attachment", cat)
	sendWith(ca, room, "m1", "secret plans", att(key, "secret.png", "image/png", len(cat)))
	gone := ca.posted()
	ca.send(room, "m2", "first draft")
	kept := ca.posted()
	ca.write(map[string]any{"type": "message:delete", "data": map[string]any{"room": room, "id": gone.ID}})
	ca.kindEvent(events.MessageDeleted)
	for _, text := range []string{"second draft", "final words"} {
		ca.write(map[string]any{"type": "message:edit", "data": map[string]any{"room": room, "id": kept.ID, "text": text}})
		ca.kindEvent(events.MessageEdited)
	}
	ca.send(room, "m3", "after all that")
	ca.posted()
	eventually(t, 15*time.Second, "Postgres has the changes", func() bool {
		msgs := s.pgMessages(room)
		return len(msgs) == 3 && msgs[0].Text == "" && msgs[1].Text == "final words"
	})

	cb := s.dial(bob)
	_, evs := cb.join(room, nil)
	checkShown(t, "join backfill", evs, gone.ID, kept.ID, "final words")
	zero := uint64(0)
	_, evs = cb.join(room, &zero)
	checkShown(t, "join after 0", evs, gone.ID, kept.ID, "final words")
	// A second socket's join is served from the room's recent frames.
	_, evs = s.dial(bob).join(room, &zero)
	checkShown(t, "join after 0 from the recent frames", evs, gone.ID, kept.ID, "final words")
	for _, limit := range []int{1, 2, 3, 500} {
		checkShown(t, "sync", syncAll(t, cb, room, limit), gone.ID, kept.ID, "final words")
	}

	var h struct{ Messages []json.RawMessage }
	if code := s.api("GET", "/api/rooms/"+room+"/messages", bob, nil, &h); code != 200 {
		t.Fatalf("history: %d", code)
	}
	var hist []eventData
	for _, m := range h.Messages {
		var id struct{ ID uint64 }
		_ = json.Unmarshal(m, &id)
		hist = append(hist, eventData{Kind: events.MessagePosted, ID: id.ID, Data: m})
	}
	for range 3 { // history has no change events; stand in for them
		hist = append(hist, eventData{Kind: events.MessageEdited, Data: []byte("{}")})
	}
	checkShown(t, "history", hist, gone.ID, kept.ID, "final words")

	// The file: gone for members and for its uploader alike, and from storage.
	for _, token := range []string{bob, alice} {
		var r *http.Response
		eventually(t, 15*time.Second, "the deleted file answers 410", func() bool {
			r = s.file(token, key)
			return r.StatusCode == http.StatusGone
		})
	}
	var e struct{ Error events.Error }
	if code := s.api("GET", "/api/files/"+key, bob, nil, &e); code != http.StatusGone || e.Error.Code != events.CodeFileDeleted {
		t.Fatalf("GET a deleted file: %d %+v", code, e.Error)
	}
	st, err := objstore.Open(s.storage)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{key, media.SealedKey(key)} {
		eventually(t, 15*time.Second, "the object "+k+" is removed", func() bool {
			o, err := st.Stat(context.Background(), k)
			return err == nil && !o.Exists
		})
	}
}

// Posting an upload form again after its upload was attached does not
// change the file the room is served: the message's file is the copy
// sealed when the message claimed the upload.
func TestClaimedUploadCannotBeReplaced(t *testing.T) {
	s := newSystem(t, withStorage(0))
	alice, bob := s.register("alice"), s.register("bob")
	room := s.createRoom(alice, "Gallery")
	ca, cb := s.dial(alice), s.dial(bob)
	ca.join(room, nil)
	cb.join(room, nil)

	cat := pngFile(t)
	code, form := s.uploadForm(alice, "cat.png", "image/png", len(cat), "attachment")
	if code != http.StatusOK {
		t.Fatalf("upload form: %d %+v", code, form.Error)
	}
	if st, body, _ := browserUpload(t, form, "cat.png", cat); st/100 != 2 {
		t.Fatalf("upload: %d %s", st, body)
	}
	sendWith(ca, room, "pic", "my cat", att(form.Key, "cat.png", "image/png", len(cat)))
	ca.posted()
	cb.posted()

	// Still a PNG to anyone sniffing its first bytes, and of the same size.
	swapped := slices.Clone(cat)
	for i := len(swapped) - 64; i < len(swapped)-16; i++ {
		swapped[i] ^= 0xff
	}
	if st, body, _ := browserUpload(t, form, "cat.png", swapped); st/100 != 2 {
		t.Fatalf("the form was refused the second time (%d %s): the test shows nothing", st, body)
	}
	for _, token := range []string{bob, alice} {
		if _, b := s.download(token, form.Key); !bytes.Equal(b, cat) {
			t.Fatalf("the room is served other bytes than it accepted (%d bytes)", len(b))
		}
	}
}

// A file is served under a name whose extension agrees with the type its
// bytes were checked to be.
func TestServedNameFollowsType(t *testing.T) {
	s := newSystem(t, withStorage(0))
	alice := s.register("alice")
	room := s.createRoom(alice, "Names")
	ca := s.dial(alice)
	ca.join(room, nil)

	cat := pngFile(t)
	notes := []byte("plain words\n")
	for _, tc := range []struct {
		upload, name, contentType string
		data                      []byte
		want                      string
	}{
		{"x.html", "x.html", "image/png", cat, `inline; filename="x.png"; filename*=UTF-8''x.png`},
		{"cat.png", "My Cat.PNG", "image/png", cat, `inline; filename="My Cat.PNG"; filename*=UTF-8''My%20Cat.PNG`},
		{"notes", "notes", "text/plain", notes, `attachment; filename="notes.txt"; filename*=UTF-8''notes.txt`},
	} {
		key := s.upload(alice, tc.upload, tc.contentType, "attachment", tc.data)
		sendWith(ca, room, tc.upload, "", att(key, tc.name, tc.contentType, len(tc.data)))
		ca.posted()
		eventually(t, 15*time.Second, "the message in Postgres", func() bool {
			var n int
			_ = s.pool.QueryRow(context.Background(), `SELECT count(*) FROM attachments WHERE key = $1`, key).Scan(&n)
			return n == 1
		})
		resp, b := s.download(alice, key)
		if got := resp.Header.Get("Content-Disposition"); got != tc.want || !bytes.Equal(b, tc.data) ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), tc.contentType) {
			t.Errorf("%s as %s: served with %q (%s), want %q", tc.name, tc.contentType, got, resp.Header.Get("Content-Type"), tc.want)
		}
	}
}
