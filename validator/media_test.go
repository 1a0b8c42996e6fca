package validator

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/media"
	"github.com/chillin-chat/chillin/events/objstore"
	"github.com/chillin-chat/chillin/events/objstore/objstoretest"
	"github.com/chillin-chat/chillin/events/redistest"
)

var (
	pngFile = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"), bytes.Repeat([]byte{9}, 600)...)
	elfFile = append([]byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00"), bytes.Repeat([]byte{0}, 600)...)
)

// uploaded stores data as user's upload of an attachment, as the gateway
// and a browser would: the upload record, then the object.
func uploaded(t *testing.T, st *objstore.Store, recs objstore.Records, user, name, contentType string, data []byte) events.Attachment {
	t.Helper()
	ctx := context.Background()
	key, err := media.NewAttachmentKey(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := recs.Put(ctx, key, media.Upload{User: user, Purpose: media.PurposeAttachment, ContentType: contentType, Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, key, contentType, data); err != nil {
		t.Fatal(err)
	}
	return events.Attachment{Key: key, Name: name, ContentType: contentType, Size: int64(len(data))}
}

func TestAttachments(t *testing.T) {
	h := newHarness(t)
	storage, st := objstoretest.NewBucket(t)
	recs := objstore.NewRecords(redistest.Client(t), h.prefix)
	cfg := h.config()
	cfg.Storage = storage
	h.start(cfg)
	h.createRoom("lobby", "alice", false, "")
	h.joinDirect("lobby", "bob")

	cat := uploaded(t, st, recs, "alice", "cat.png", "image/png", pngFile)
	send := func(user, clientID string, atts ...events.Attachment) events.Command {
		cmd := h.command(events.CmdMessageSend, user, "lobby", events.MessageSend{Text: "look", ClientID: clientID, Attachments: atts})
		h.send(cmd)
		return cmd
	}
	send("alice", "m1", cat)
	facts := h.waitHead("lobby", 3)
	if got := postedData(t, facts[2]).Attachments; len(got) != 1 || got[0] != cat {
		t.Fatalf("posted attachments %+v, want %+v", got, cat)
	}
	if rec, _, _ := recs.Get(context.Background(), cat.Key); rec.Claim != media.Claimant("lobby", "alice", "m1") {
		t.Fatalf("upload claim %q", rec.Claim)
	}

	for i, tc := range []struct {
		name, user, clientID string
		att                  events.Attachment
		want                 string
	}{
		{"someone else's upload", "bob", "b1", cat, "uploaded by someone else"},
		{"the same upload in a second message", "alice", "m2", cat, "already attached to another message"},
		{"an executable named .png", "alice", "m3", uploaded(t, st, recs, "alice", "totally-a-cat.png", "image/png", elfFile), "content is not image/png"},
		{"size other than the object's", "alice", "m4", func() events.Attachment {
			a := uploaded(t, st, recs, "alice", "dog.png", "image/png", pngFile)
			a.Size++
			return a
		}(), "bytes, not"},
		{"never uploaded", "alice", "m5", events.Attachment{Key: "a/" + strings.Repeat("q", 26) + "/x.png", Name: "x.png", ContentType: "image/png", Size: 10}, "no upload of it is on record"},
	} {
		before := len(h.rejections(tc.user))
		send(tc.user, tc.clientID, tc.att)
		r := h.waitRejections(tc.user, before+1)[before]
		if r.Code != events.CodeBadAttachment || !strings.Contains(r.Message, tc.want) || r.ClientID != tc.clientID {
			t.Errorf("%d %s: rejection %+v, want BAD_ATTACHMENT with %q", i, tc.name, r, tc.want)
		}
	}
	// A resend of the accepted message is recognised, not refused.
	before := len(h.rejections("alice"))
	send("alice", "m1", cat)
	send("alice", "m6") // a plain message after it, to know the resend was settled
	facts = h.waitHead("lobby", 4)
	if n := len(posted(t, facts)); n != 2 || len(h.rejections("alice")) != before {
		t.Fatalf("%d messages and %d new rejections after the resend", n, len(h.rejections("alice"))-before)
	}
}

// cutProxy forwards TCP connections to target while up; while down it
// closes them at once, like a storage server that is away.
type cutProxy struct {
	ln     net.Listener
	target string
	up     atomic.Bool
	wg     sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !p.up.Load() {
				c.Close()
				continue
			}
			p.wg.Go(func() {
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { io.Copy(s, c); s.Close() }()
				io.Copy(c, s)
			})
		}
	})
	t.Cleanup(func() { ln.Close() })
	return p
}

// Storage that does not answer holds a message with attachments back, and
// /ready says so; it is accepted once storage is back, never refused.
func TestAttachmentsWaitForStorage(t *testing.T) {
	h := newHarness(t)
	storage, st := objstoretest.NewBucket(t)
	recs := objstore.NewRecords(redistest.Client(t), h.prefix)
	cat := uploaded(t, st, recs, "alice", "cat.png", "image/png", pngFile)

	proxy := newCutProxy(t, storage.Endpoint)
	cfg := h.config()
	cfg.Storage = storage
	cfg.Storage.Endpoint = proxy.ln.Addr().String()
	ops, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPListener = ops
	h.start(cfg)
	h.createRoom("lobby", "alice", false, "")

	ready := func() (int, string) {
		resp, err := http.Get("http://" + ops.Addr().String() + "/ready")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := ready(); code != http.StatusServiceUnavailable || !strings.Contains(body, "storage") {
		t.Fatalf("/ready with storage away: %d %s", code, body)
	}

	h.send(h.command(events.CmdMessageSend, "alice", "lobby", events.MessageSend{Text: "look", ClientID: "m1", Attachments: []events.Attachment{cat}}))
	time.Sleep(2 * time.Second) // several retries
	if facts := h.roomFacts("lobby"); len(facts) != 1 {
		t.Fatalf("room has %d facts while storage is away, want only room.created", len(facts))
	}
	if rs := h.rejections("alice"); len(rs) != 0 {
		t.Fatalf("refused while storage is away: %+v", rs)
	}

	proxy.up.Store(true)
	facts := h.waitHead("lobby", 2)
	if got := postedData(t, facts[1]).Attachments; len(got) != 1 || got[0].Key != cat.Key {
		t.Fatalf("posted %+v", got)
	}
	deadline := time.Now().Add(waitFor)
	for {
		code, body := ready()
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready with storage back: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A claimed attachment is sealed: copied to its sealed key, which no upload
// form can replace. Deleting the message removes both objects and marks
// the upload record deleted.
func TestAttachmentSealedThenSweptOnDelete(t *testing.T) {
	h := newHarness(t)
	storage, st := objstoretest.NewBucket(t)
	recs := objstore.NewRecords(redistest.Client(t), h.prefix)
	cfg := h.config()
	cfg.Storage = storage
	h.start(cfg)
	h.createRoom("lobby", "alice", false, "")
	ctx := context.Background()

	cat := uploaded(t, st, recs, "alice", "cat.png", "image/png", pngFile)
	h.send(h.command(events.CmdMessageSend, "alice", "lobby", events.MessageSend{Text: "look", ClientID: "m1", Attachments: []events.Attachment{cat}}))
	facts := h.waitHead("lobby", 2)
	sealed := media.SealedKey(cat.Key)
	if o, err := st.Inspect(ctx, sealed); err != nil || !o.Exists || !bytes.Equal(o.Head, pngFile[:media.HeadBytes]) {
		t.Fatalf("sealed copy after the claim: %+v, %v", o, err)
	}

	h.send(h.command(events.CmdMessageDelete, "alice", "lobby", events.MessageDelete{ID: facts[1].ID}))
	h.waitHead("lobby", 3)
	deadline := time.Now().Add(15 * time.Second)
	for {
		orig, err1 := st.Stat(ctx, cat.Key)
		copied, err2 := st.Stat(ctx, sealed)
		rec, _, err3 := recs.Get(ctx, cat.Key)
		if err1 == nil && err2 == nil && err3 == nil && !orig.Exists && !copied.Exists && rec.Deleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the delete: original %v, sealed %v, record %+v (%v %v %v)", orig.Exists, copied.Exists, rec, err1, err2, err3)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
