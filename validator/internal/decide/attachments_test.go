package decide

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/media"
)

var (
	pngHead = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"), bytes.Repeat([]byte{1}, 40)...)
	elfHead = append([]byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00"), bytes.Repeat([]byte{0}, 40)...)
	pdfHead = []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
)

func attKey(n int, name string) string {
	return fmt.Sprintf("a/%s/%s", strings.Repeat(string(rune('a'+n%26)), 26), name)
}

// upload is alice's recorded, unclaimed upload of a 2048-byte PNG.
func upload(key string) Upload {
	return Upload{
		Recorded: true,
		Record:   media.Upload{User: "alice", Purpose: media.PurposeAttachment, ContentType: "image/png", Size: 2048},
		Object:   media.Object{Exists: true, Size: 2048, ContentType: "image/png", Head: pngHead},
	}
}

// TestDecideAttachments covers the attachment rules: what is refused before
// storage is asked anything, that the uploads are asked for, and what is
// refused once they are known.
func TestDecideAttachments(t *testing.T) {
	fx := newFixture(t)
	cat := events.Attachment{Key: attKey(0, "cat.png"), Name: "cat.png", ContentType: "image/png", Size: 2048}
	doc := events.Attachment{Key: attKey(1, "doc.pdf"), Name: "Q3 report.pdf", ContentType: "application/pdf", Size: 4096}
	docUpload := Upload{Recorded: true,
		Record: media.Upload{User: "alice", Purpose: media.PurposeAttachment, ContentType: "application/pdf", Size: 4096},
		Object: media.Object{Exists: true, Size: 4096, ContentType: "application/pdf", Head: pdfHead}}
	with := func(mod func(*events.Attachment)) events.Attachment {
		a := cat
		mod(&a)
		return a
	}
	up := func(mod func(*Upload)) map[string]Upload {
		u := upload(cat.Key)
		mod(&u)
		return map[string]Upload{cat.Key: u}
	}
	many := make([]events.Attachment, media.MaxAttachments+1)
	for i := range many {
		many[i] = with(func(a *events.Attachment) { a.Key = attKey(i, "p.png") })
	}
	const taken = "lobby alice other-client"

	for _, tc := range []struct {
		name    string
		user    string
		text    string
		atts    []events.Attachment
		media   bool
		uploads map[string]Upload
		want    string // rejection message part; "" accepted; "inspect" asks for the uploads
	}{
		{"storage not configured", "alice", "pic", []events.Attachment{cat}, false, nil, "not enabled"},
		{"asks for the uploads", "alice", "pic", []events.Attachment{cat, doc}, true, nil, "inspect"},
		{"accepted", "alice", "pic", []events.Attachment{cat, doc}, true, map[string]Upload{cat.Key: upload(cat.Key), doc.Key: docUpload}, ""},
		{"accepted without text", "alice", "", []events.Attachment{cat}, true, up(func(*Upload) {}), ""},
		{"blank text is still refused", "alice", "  ", []events.Attachment{cat}, true, up(func(*Upload) {}), "EMPTY_MESSAGE"},
		{"claimed by this very message before", "alice", "pic", []events.Attachment{cat}, true, up(func(u *Upload) { u.Record.Claim = media.Claimant("lobby", "alice", "n1") }), ""},

		// Refused before storage is asked.
		{"too many", "alice", "pic", many, true, nil, "at most 10 attachments"},
		{"not a key of ours", "alice", "pic", []events.Attachment{with(func(a *events.Attachment) { a.Key = "../../etc/passwd" })}, true, nil, "not an attachment key"},
		{"an avatar key", "alice", "pic", []events.Attachment{with(func(a *events.Attachment) { a.Key = "v/alice/" + strings.Repeat("b", 26) })}, true, nil, "not an attachment key"},
		{"one key twice", "alice", "pic", []events.Attachment{cat, cat}, true, nil, "attached twice"},
		{"no name", "alice", "pic", []events.Attachment{with(func(a *events.Attachment) { a.Name = " " })}, true, nil, "needs a name"},
		{"name with bidi override", "alice", "pic", []events.Attachment{with(func(a *events.Attachment) { a.Name = "gnp\u202e.exe" })}, true, nil, "control characters"},
		{"type not allowed", "alice", "pic", []events.Attachment{with(func(a *events.Attachment) { a.ContentType = "application/x-msdownload" })}, true, nil, "not allowed"},
		{"svg not allowed", "alice", "pic", []events.Attachment{with(func(a *events.Attachment) { a.ContentType = "image/svg+xml" })}, true, nil, "not allowed"},
		{"size zero", "alice", "pic", []events.Attachment{with(func(a *events.Attachment) { a.Size = 0 })}, true, nil, "size 0"},
		{"size over the limit", "alice", "pic", []events.Attachment{with(func(a *events.Attachment) { a.Size = media.MaxSize + 1 })}, true, nil, "size 10485761"},

		// Refused on what the uploads show.
		{"never uploaded or expired", "alice", "pic", []events.Attachment{cat}, true, map[string]Upload{}, "no upload of it is on record"},
		{"record gone", "alice", "pic", []events.Attachment{cat}, true, up(func(u *Upload) { u.Recorded = false }), "no upload of it is on record"},
		{"someone else's upload", "bob", "pic", []events.Attachment{cat}, true, up(func(*Upload) {}), "uploaded by someone else"},
		{"an avatar upload", "alice", "pic", []events.Attachment{cat}, true, up(func(u *Upload) { u.Record.Purpose = media.PurposeAvatar }), "not uploaded as an attachment"},
		{"attached to another message", "alice", "pic", []events.Attachment{cat}, true, up(func(u *Upload) { u.Record.Claim = taken }), "already attached"},
		{"declared another type at upload", "alice", "pic", []events.Attachment{cat}, true, up(func(u *Upload) { u.Record.ContentType = "image/gif" }), "uploaded as image/gif"},
		{"object missing", "alice", "pic", []events.Attachment{cat}, true, up(func(u *Upload) { u.Object = media.Object{} }), "never uploaded"},
		{"size differs from the object", "alice", "pic", []events.Attachment{cat}, true, up(func(u *Upload) { u.Object.Size = 2000 }), "not 2048"},
		{"object over the limit", "alice", "pic", []events.Attachment{with(func(a *events.Attachment) { a.Size = media.MaxSize })}, true,
			up(func(u *Upload) { u.Object.Size = media.MaxSize + 1 }), "the limit is"},
		{"an executable named .png", "alice", "pic", []events.Attachment{cat}, true, up(func(u *Upload) { u.Object.Head = elfHead }), "content is not image/png"},
		{"one bad among good", "alice", "pic", []events.Attachment{doc, cat}, true,
			map[string]Upload{doc.Key: docUpload, cat.Key: func() Upload { u := upload(cat.Key); u.Object.Head = elfHead; return u }()}, "attachment 2 (cat.png)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sess := map[string]string{"alice": "s-alice", "bob": "s-bob"}[tc.user]
			in := input(t, events.CmdMessageSend, tc.user, sess, "lobby", events.MessageSend{Text: tc.text, ClientID: "n1", Attachments: tc.atts})
			in.Media, in.Uploads = tc.media, tc.uploads
			d := Decide(fx.room, in)
			switch tc.want {
			case "inspect":
				if d.Fact != nil || d.Reject != nil || len(d.Inspect) != len(tc.atts) || d.Inspect[0] != tc.atts[0].Key {
					t.Fatalf("decision %+v, want Inspect of %d keys", d, len(tc.atts))
				}
			case "":
				check(t, d, want{fact: events.MessagePosted}, fx.room, "the-cmd")
				got, err := events.DecodeData[events.MessagePostedData](*d.Fact)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got.Attachments) != fmt.Sprint(tc.atts) {
					t.Fatalf("posted attachments %+v, want %+v", got.Attachments, tc.atts)
				}
				if d.Claimant != media.Claimant("lobby", tc.user, "n1") || len(d.Claim) != len(tc.atts) || d.Claim[0] != tc.atts[0].Key {
					t.Fatalf("claim %v for %q", d.Claim, d.Claimant)
				}
			default:
				if d.Reject == nil || d.Fact != nil || d.Inspect != nil {
					t.Fatalf("decision %+v, want a rejection with %q", d, tc.want)
				}
				if got := d.Reject.Code + ": " + d.Reject.Message; !strings.Contains(got, tc.want) {
					t.Fatalf("rejected %s, want %q", got, tc.want)
				}
				if tc.want != "EMPTY_MESSAGE" && d.Reject.Code != events.CodeBadAttachment {
					t.Fatalf("code %s, want BAD_ATTACHMENT", d.Reject.Code)
				}
				if d.Confirm {
					t.Fatal("an attachment refusal does not rest on the room")
				}
			}
		})
	}
}

// A message without attachments never asks storage anything or claims.
func TestDecideSendWithoutAttachmentsClaimsNothing(t *testing.T) {
	fx := newFixture(t)
	in := input(t, events.CmdMessageSend, "alice", "s-alice", "lobby", events.MessageSend{Text: "hi", ClientID: "n9"})
	in.Media = true
	d := Decide(fx.room, in)
	if d.Fact == nil || d.Inspect != nil || d.Claim != nil || d.Claimant != "" {
		t.Fatalf("decision %+v", d)
	}
}

func TestAttachmentTaken(t *testing.T) {
	if e := AttachmentTaken("a/x/y.png", ""); e.Code != events.CodeBadAttachment || !strings.Contains(e.Message, "upload the file again") {
		t.Fatal(e)
	}
	if e := AttachmentTaken("a/x/y.png", "r u c"); e.Code != events.CodeBadAttachment || !strings.Contains(e.Message, "already attached") {
		t.Fatal(e)
	}
}
