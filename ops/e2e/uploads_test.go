package e2e

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/media"
)

// pngFile is a real 32×32 PNG image of noise (a few KiB: it hardly
// compresses).
func pngFile(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	x := uint32(12345)
	for i := range img.Pix {
		x = x*1103515245 + 12345
		img.Pix[i] = uint8(x >> 16)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// elfFile is the start of a Linux executable: what a ".png" that is really
// a program looks like.
var elfFile = append([]byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00\x01\x00\x00\x00"), bytes.Repeat([]byte{0x90}, 2000)...)

type uploadForm struct {
	URL       string            `json:"url"`
	Fields    map[string]string `json:"fields"`
	Key       string            `json:"key"`
	ExpiresAt time.Time         `json:"expiresAt"`
	Error     *events.Error     `json:"error"`
}

// uploadForm asks the gateway for an upload form.
func (s *system) uploadForm(token, filename, contentType string, size int, purpose string) (int, uploadForm) {
	s.t.Helper()
	var f uploadForm
	code := s.api("POST", "/api/uploads", token, map[string]any{
		"filename": filename, "contentType": contentType, "size": size, "purpose": purpose,
	}, &f)
	return code, f
}

// browserUpload posts a file to storage as a browser does with the form:
// multipart/form-data, every field, then the file; from another origin
// than storage's. It returns the status and body.
func browserUpload(t *testing.T, f uploadForm, filename string, data []byte) (int, string, http.Header) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, v := range f.Fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	w.Close()
	req, _ := http.NewRequest("POST", f.URL, &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Origin", "http://chat.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload to storage: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// upload gets a form and uploads data with it; it fails the test unless
// storage took it.
func (s *system) upload(token, filename, contentType, purpose string, data []byte) string {
	s.t.Helper()
	code, f := s.uploadForm(token, filename, contentType, len(data), purpose)
	if code != http.StatusOK {
		s.t.Fatalf("upload form for %s: %d %+v", filename, code, f.Error)
	}
	if st, body, _ := browserUpload(s.t, f, filename, data); st/100 != 2 {
		s.t.Fatalf("upload of %s: %d %s", filename, st, body)
	}
	return f.Key
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// file asks the gateway for a file without following the redirect.
func (s *system) file(token, key string) *http.Response {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.baseURL+"/api/files/"+key, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		s.t.Fatalf("GET /api/files/%s: %v", key, err)
	}
	resp.Body.Close()
	return resp
}

// download follows a file redirect to storage, as a browser does, and
// returns the response and its bytes.
func (s *system) download(token, key string) (*http.Response, []byte) {
	s.t.Helper()
	var resp *http.Response
	eventually(s.t, 15*time.Second, "the file is served", func() bool {
		resp = s.file(token, key)
		return resp.StatusCode == http.StatusFound
	})
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=30"} {
		if got := resp.Header.Get(h); got != want {
			s.t.Errorf("redirect for %s: %s %q, want %q", key, h, got, want)
		}
	}
	got, err := http.Get(resp.Header.Get("Location"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer got.Body.Close()
	b, _ := io.ReadAll(got.Body)
	if got.StatusCode != http.StatusOK {
		s.t.Fatalf("download of %s: %d %s", key, got.StatusCode, b)
	}
	return got, b
}

// frameOf returns the next frame of type typ, skipping others.
func (c *client) frameOf(typ string) frame {
	c.t.Helper()
	for {
		if f := c.next(15 * time.Second); f.Type == typ {
			return f
		}
	}
}

func sendWith(c *client, room, clientID, text string, atts ...map[string]any) {
	c.write(map[string]any{"type": "message:send", "data": map[string]any{"room": room, "clientId": clientID, "text": text, "attachments": atts}})
}

func att(key, name, contentType string, size int) map[string]any {
	return map[string]any{"key": key, "name": name, "contentType": contentType, "size": size}
}

// A real file goes from a browser straight into MinIO through the presigned
// POST, is attached to a message, reaches another member with its url, and
// comes back through /api/files byte for byte; nobody outside the room
// gets it; what is too big, of the wrong type or someone else's is refused.
func TestUploads(t *testing.T) {
	s := newSystem(t, withStorage(0))
	alice, bob, carol := s.register("alice"), s.register("bob"), s.register("carol")
	room := s.createRoom(alice, "Gallery")
	ca, cb := s.dial(alice), s.dial(bob)
	ca.join(room, nil)
	cb.join(room, nil)
	ca.event() // bob's join

	cat := pngFile(t)
	code, form := s.uploadForm(alice, "My Cat.png", "image/png", len(cat), "attachment")
	if code != http.StatusOK || !strings.HasPrefix(form.Key, "a/") || !strings.HasSuffix(form.Key, "/My_Cat.png") || form.URL == "" ||
		form.Fields["key"] != form.Key || form.Fields["Content-Type"] != "image/png" {
		t.Fatalf("upload form: %d %+v", code, form)
	}
	if left := time.Until(form.ExpiresAt); left < 4*time.Minute || left > 5*time.Minute+time.Second {
		t.Fatalf("the form expires in %v, want 5 minutes", left)
	}
	st, body, hdr := browserUpload(t, form, "My Cat.png", cat)
	if st != http.StatusNoContent {
		t.Fatalf("browser upload: %d %s", st, body)
	}
	// The browser may read the answer of its cross-origin upload.
	if o := hdr.Get("Access-Control-Allow-Origin"); o != "*" && o != "http://chat.example" {
		t.Errorf("storage answers a cross-origin upload with Access-Control-Allow-Origin %q", o)
	}

	sendWith(ca, room, "pic-1", "look at my cat", att(form.Key, "My Cat.png", "image/png", len(cat)))
	var got struct {
		Attachments []struct {
			Key, Name, ContentType, URL string
			Size                        int
		}
	}
	if m := ca.posted(); m.Text != "look at my cat" {
		t.Fatalf("alice got %+v", m)
	}
	// Bob, live: the message object carries the attachment and its url.
	ev := cb.kindEvent(events.MessagePosted)
	if err := json.Unmarshal(ev.Data, &got); err != nil || len(got.Attachments) != 1 {
		t.Fatalf("live message %s: %v", ev.Data, err)
	}
	if a := got.Attachments[0]; a.Key != form.Key || a.Name != "My Cat.png" || a.ContentType != "image/png" || a.Size != len(cat) || a.URL != "/api/files/"+form.Key {
		t.Fatalf("live attachment %+v", a)
	}
	got.Attachments = nil
	// The message object as history shows it carries the url too.
	var h struct {
		Messages []json.RawMessage
	}
	eventually(t, 15*time.Second, "the message in history", func() bool {
		return s.api("GET", "/api/rooms/"+room+"/messages", bob, nil, &h) == 200 && len(h.Messages) == 1
	})
	if err := json.Unmarshal(h.Messages[0], &got); err != nil || len(got.Attachments) != 1 {
		t.Fatalf("history %s: %v", h.Messages[0], err)
	}
	if a := got.Attachments[0]; a.Key != form.Key || a.Name != "My Cat.png" || a.ContentType != "image/png" || a.Size != len(cat) || a.URL != "/api/files/"+form.Key {
		t.Fatalf("attachment in history %+v", a)
	}

	// Bob, a member, downloads it: a redirect to storage, then the bytes.
	resp, b := s.download(bob, form.Key)
	if !bytes.Equal(b, cat) || resp.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "inline;") {
		t.Fatalf("download: %d bytes (want %d), %v", len(b), len(cat), resp.Header)
	}
	// Carol is no member of the room: refused. Strangers: refused. A key
	// of ours that holds nothing, or not a key of ours: not found.
	if r := s.file(carol, form.Key); r.StatusCode != http.StatusForbidden {
		t.Fatalf("a non-member asked for the room's file: %d", r.StatusCode)
	}
	if r := s.file("", form.Key); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an anonymous request for a file: %d", r.StatusCode)
	}
	nothing, _ := media.NewAttachmentKey("nothing.png")
	for _, key := range []string{nothing, "a/short/x.png", "v/nobody", "x"} {
		if r := s.file(bob, key); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET /api/files/%s: %d, want 404", key, r.StatusCode)
		}
	}

	// A file that is not an image is served as a download, never inline.
	notes := []byte("minutes of the meeting\n- bring snacks\n")
	key := s.upload(alice, "notes.txt", "text/plain", "attachment", notes)
	sendWith(ca, room, "txt-1", "", att(key, "Meeting notes.txt", "text/plain", len(notes)))
	ca.posted()
	cb.posted()
	// Once Postgres holds the message, the download carries the name the
	// message gave the file (before, the upload's own name).
	eventually(t, 15*time.Second, "the text file's message in Postgres", func() bool { return len(s.pgMessages(room)) == 2 })
	resp, b = s.download(bob, key)
	if !bytes.Equal(b, notes) || resp.Header.Get("Content-Type") != "text/plain" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="Meeting notes.txt"; filename*=UTF-8''Meeting%20notes.txt` {
		t.Fatalf("text download: %q %v", b, resp.Header)
	}

	t.Run("refused by the gateway", func(t *testing.T) {
		for _, tc := range []struct {
			name, filename, contentType, purpose string
			size                                 int
		}{
			{"over 10 MiB", "big.png", "image/png", "attachment", media.MaxSize + 1},
			{"empty", "empty.png", "image/png", "attachment", 0},
			{"an executable type", "setup.exe", "application/x-msdownload", "attachment", 1000},
			{"svg", "logo.svg", "image/svg+xml", "attachment", 1000},
			{"html", "page.html", "text/html", "attachment", 1000},
			{"a pdf avatar", "me.pdf", "application/pdf", "avatar", 1000},
			{"no purpose", "cat.png", "image/png", "", 1000},
			{"a file name with nothing in it", "???", "image/png", "attachment", 1000},
		} {
			code, f := s.uploadForm(alice, tc.filename, tc.contentType, tc.size, tc.purpose)
			if code != http.StatusBadRequest || f.Error == nil || f.Error.Code != events.CodeBadUpload {
				t.Errorf("%s: %d %+v, want 400 BAD_UPLOAD", tc.name, code, f.Error)
			}
		}
		if code := s.api("POST", "/api/uploads", "", map[string]any{"filename": "a.png", "contentType": "image/png", "size": 10, "purpose": "attachment"}, nil); code != http.StatusUnauthorized {
			t.Errorf("anonymous upload form: %d", code)
		}
	})

	t.Run("larger than declared: refused by storage", func(t *testing.T) {
		code, f := s.uploadForm(alice, "small.png", "image/png", 100, "attachment")
		if code != http.StatusOK {
			t.Fatalf("form: %d %+v", code, f.Error)
		}
		st, body, _ := browserUpload(t, f, "small.png", cat)
		if st/100 == 2 || !strings.Contains(body, "EntityTooLarge") {
			t.Fatalf("storage took %d bytes on a form for 100: %d %s", len(cat), st, body)
		}
		sendWith(ca, room, "big-1", "x", att(f.Key, "small.png", "image/png", len(cat)))
		if r := ca.rejected(); r.Code != events.CodeBadAttachment || r.ClientID != "big-1" || !strings.Contains(r.Message, "never uploaded") {
			t.Fatalf("rejection %+v", r)
		}
	})

	t.Run("another content type than the form's: refused by storage", func(t *testing.T) {
		code, f := s.uploadForm(alice, "cat.png", "image/png", len(elfFile), "attachment")
		if code != http.StatusOK {
			t.Fatalf("form: %d", code)
		}
		f.Fields["Content-Type"] = "application/x-msdownload"
		if st, body, _ := browserUpload(t, f, "cat.png", elfFile); st/100 == 2 {
			t.Fatalf("storage took another content type: %d %s", st, body)
		}
	})

	t.Run("a .png that is really an executable", func(t *testing.T) {
		key := s.upload(alice, "cute.png", "image/png", "attachment", elfFile)
		sendWith(ca, room, "elf-1", "cute", att(key, "cute.png", "image/png", len(elfFile)))
		r := ca.rejected()
		if r.Code != events.CodeBadAttachment || !strings.Contains(r.Message, "not image/png") {
			t.Fatalf("rejection %+v", r)
		}
	})

	t.Run("someone else's upload", func(t *testing.T) {
		key := s.upload(alice, "mine.png", "image/png", "attachment", cat)
		sendWith(cb, room, "steal-1", "mine now", att(key, "mine.png", "image/png", len(cat)))
		if r := cb.rejected(); r.Code != events.CodeBadAttachment || !strings.Contains(r.Message, "uploaded by someone else") {
			t.Fatalf("rejection %+v", r)
		}
		// Its uploader may fetch it before it is attached; nobody else.
		if _, b := s.download(alice, key); !bytes.Equal(b, cat) {
			t.Fatalf("the uploader's download: %d bytes", len(b))
		}
		if r := s.file(bob, key); r.StatusCode != http.StatusNotFound {
			t.Fatalf("an unattached upload of someone else: %d", r.StatusCode)
		}
		// Nor can the uploader attach an upload twice.
		sendWith(ca, room, "again-1", "again", att(form.Key, "My Cat.png", "image/png", len(cat)))
		if r := ca.rejected(); r.Code != events.CodeBadAttachment || !strings.Contains(r.Message, "already attached") {
			t.Fatalf("rejection %+v", r)
		}
	})

	t.Run("avatar", func(t *testing.T) {
		key := s.upload(alice, "me.png", "image/png", "avatar", cat)
		if !strings.HasPrefix(key, "v/alice/") {
			t.Fatalf("avatar key %s", key)
		}
		var out struct {
			User struct {
				ID        string  `json:"id"`
				AvatarURL *string `json:"avatarUrl"`
			} `json:"user"`
			Error *events.Error `json:"error"`
		}
		if code := s.api("PUT", "/api/auth/me/avatar", alice, map[string]string{"key": key}, &out); code != http.StatusOK ||
			out.User.AvatarURL == nil || *out.User.AvatarURL != "/api/files/"+key {
			t.Fatalf("set avatar: %d %+v %+v", code, out.User, out.Error)
		}
		// Bob shares a room with alice: he hears of it live.
		var upd struct {
			User struct {
				ID, Username, DisplayName string
				AvatarURL                 *string
			}
		}
		if err := json.Unmarshal(cb.frameOf("user:update").Data, &upd); err != nil || upd.User.ID != "alice" ||
			upd.User.AvatarURL == nil || *upd.User.AvatarURL != "/api/files/"+key || upd.User.DisplayName == "" {
			t.Fatalf("user:update %+v %v", upd, err)
		}
		// Her profile and the room's member list show it.
		eventually(t, 15*time.Second, "avatarUrl in /api/auth/me", func() bool {
			out.User.AvatarURL = nil
			return s.api("GET", "/api/auth/me", alice, nil, &out) == 200 && out.User.AvatarURL != nil && *out.User.AvatarURL == "/api/files/"+key
		})
		var members struct {
			Members []struct {
				User      string  `json:"user"`
				AvatarURL *string `json:"avatarUrl"`
			} `json:"members"`
		}
		if code := s.api("GET", "/api/rooms/"+room+"/members", bob, nil, &members); code != 200 {
			t.Fatalf("members: %d", code)
		}
		for _, m := range members.Members {
			switch {
			case m.User == "alice" && (m.AvatarURL == nil || *m.AvatarURL != "/api/files/"+key):
				t.Fatalf("alice in the member list: %+v", m)
			case m.User == "bob" && m.AvatarURL != nil:
				t.Fatalf("bob has no avatar, the list says %q", *m.AvatarURL)
			}
		}
		// Anyone logged in sees an avatar, in or out of her rooms.
		resp, b := s.download(carol, key)
		if !bytes.Equal(b, cat) || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "inline;") {
			t.Fatalf("avatar download: %d bytes, %v", len(b), resp.Header)
		}

		// What is refused as an avatar.
		pdfAsPNG := s.upload(bob, "me.png", "image/png", "avatar", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"))
		for name, tc := range map[string]struct{ token, key, want string }{
			"someone else's":   {alice, pdfAsPNG, "someone else"},
			"an attachment":    {alice, form.Key, "not an avatar upload"},
			"never uploaded":   {alice, media.NewAvatarKey("alice"), "never uploaded"},
			"not really a png": {bob, pdfAsPNG, "not image/png"},
		} {
			out.Error = nil
			if code := s.api("PUT", "/api/auth/me/avatar", tc.token, map[string]string{"key": tc.key}, &out); code != http.StatusBadRequest ||
				out.Error == nil || out.Error.Code != events.CodeBadAttachment || !strings.Contains(out.Error.Message, tc.want) {
				t.Errorf("%s: %d %+v, want 400 BAD_ATTACHMENT with %q", name, code, out.Error, tc.want)
			}
		}
	})
}

// An upload form is good for UploadExpiry only: storage refuses it after.
func TestUploadFormExpires(t *testing.T) {
	s := newSystem(t, withStorage(time.Second))
	alice := s.register("alice")
	room := s.createRoom(alice, "late")
	ca := s.dial(alice)
	ca.join(room, nil)
	cat := pngFile(t)
	code, f := s.uploadForm(alice, "cat.png", "image/png", len(cat), "attachment")
	if code != http.StatusOK {
		t.Fatalf("form: %d %+v", code, f.Error)
	}
	time.Sleep(time.Until(f.ExpiresAt) + 1500*time.Millisecond)
	st, body, _ := browserUpload(t, f, "cat.png", cat)
	if st != http.StatusForbidden || !strings.Contains(body, "expired") {
		t.Fatalf("upload with an expired form: %d %s", st, body)
	}
	sendWith(ca, room, "late-1", "too late", att(f.Key, "cat.png", "image/png", len(cat)))
	if r := ca.rejected(); r.Code != events.CodeBadAttachment || !strings.Contains(r.Message, "never uploaded") {
		t.Fatalf("rejection %+v", r)
	}
}

// Without storage the chat runs; uploads answer 503 and attachments are
// refused.
func TestUploadsWithoutStorage(t *testing.T) {
	s := newSystem(t)
	alice := s.register("alice")
	room := s.createRoom(alice, "plain")
	var out struct{ Error *events.Error }
	if code := s.api("POST", "/api/uploads", alice, map[string]any{"filename": "a.png", "contentType": "image/png", "size": 10, "purpose": "attachment"}, &out); code != http.StatusServiceUnavailable ||
		out.Error == nil || out.Error.Code != events.CodeStorageUnavailable {
		t.Fatalf("upload form without storage: %d %+v", code, out.Error)
	}
	key, _ := media.NewAttachmentKey("a.png")
	if r := s.file(alice, key); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("file without storage: %d", r.StatusCode)
	}
	ca := s.dial(alice)
	ca.join(room, nil)
	sendWith(ca, room, "a-1", "pic", att(key, "a.png", "image/png", 10))
	if r := ca.rejected(); r.Code != events.CodeBadAttachment || !strings.Contains(r.Message, "not enabled") {
		t.Fatalf("rejection %+v", r)
	}
	ca.send(room, "t-1", "text still works")
	if m := ca.posted(); m.Text != "text still works" {
		t.Fatalf("posted %+v", m)
	}
}

// Storage configured but away: uploads and downloads answer 503, /ready
// names it, and chat goes on.
func TestUploadsStorageAway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	s := newSystem(t, withStorage(0), func(s *system) { s.storage.Endpoint = dead })
	alice := s.register("alice")
	room := s.createRoom(alice, "offline media")

	var ready struct{ Down []string }
	if code := s.api("GET", "/ready", "", nil, &ready); code != http.StatusServiceUnavailable || !slices.Contains(ready.Down, "storage") {
		t.Fatalf("/ready: %d %+v", code, ready)
	}
	var out struct{ Error *events.Error }
	if code := s.api("POST", "/api/uploads", alice, map[string]any{"filename": "a.png", "contentType": "image/png", "size": 10, "purpose": "attachment"}, &out); code != http.StatusServiceUnavailable ||
		out.Error == nil || out.Error.Code != events.CodeStorageUnavailable {
		t.Fatalf("upload form with storage away: %d %+v", code, out.Error)
	}
	if r := s.file(alice, media.NewAvatarKey("alice")); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("avatar with storage away: %d", r.StatusCode)
	}
	ca := s.dial(alice)
	ca.join(room, nil)
	ca.send(room, "t-1", "text still works")
	if m := ca.posted(); m.Text != "text still works" {
		t.Fatalf("posted %+v", m)
	}
}

// A member asks for a file the moment its message arrives, before Postgres
// holds the message (here: the projector is stopped): the upload's claim
// names the room, so members get it and others do not.
func TestFileBeforeProjection(t *testing.T) {
	s := newSystem(t, withStorage(0))
	alice, bob, carol := s.register("alice"), s.register("bob"), s.register("carol")
	room := s.createRoom(alice, "Quick")
	ca, cb := s.dial(alice), s.dial(bob)
	ca.join(room, nil)
	cb.join(room, nil)
	ca.event() // bob's join
	eventually(t, 15*time.Second, "bob is a member in Postgres", func() bool {
		var m struct{ Members []struct{ User string } }
		return s.api("GET", "/api/rooms/"+room+"/members", alice, nil, &m) == 200 && len(m.Members) == 2
	})
	s.projectorStop()

	cat := pngFile(t)
	key := s.upload(alice, "cat.png", "image/png", "attachment", cat)
	sendWith(ca, room, "pic-1", "", att(key, "cat.png", "image/png", len(cat)))
	ca.posted()
	cb.posted()
	if n := len(s.pgMessages(room)); n != 0 {
		t.Fatalf("Postgres already holds %d messages: the projector was stopped", n)
	}
	resp, b := s.download(bob, key)
	if !bytes.Equal(b, cat) || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("download before projection: %d bytes (want %d), %v", len(b), len(cat), resp.Header)
	}
	if r := s.file(carol, key); r.StatusCode != http.StatusForbidden {
		t.Fatalf("a non-member asked for the file before projection: %d, want 403", r.StatusCode)
	}
}
