package objstore_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events/media"
	"github.com/chillin-chat/chillin/events/objstore"
	"github.com/chillin-chat/chillin/events/objstore/objstoretest"
	"github.com/chillin-chat/chillin/events/redistest"
)

var pngBytes = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"), bytes.Repeat([]byte{7}, 1000)...)

// post sends a browser's upload form: every field, then the file.
func post(t *testing.T, url string, fields map[string]string, data []byte, origin string) *http.Response {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile("file", "upload.bin")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	w.Close()
	req, _ := http.NewRequest("POST", url, &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestUploadInspectDownload(t *testing.T) {
	_, st := objstoretest.NewBucket(t)
	ctx := context.Background()
	key, err := media.NewAttachmentKey("cat.png")
	if err != nil {
		t.Fatal(err)
	}
	o, err := st.Inspect(ctx, key)
	if err != nil || o.Exists {
		t.Fatalf("before the upload: %+v, %v", o, err)
	}

	url, fields, err := st.PresignPost(ctx, key, "image/png", int64(len(pngBytes)), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if fields["key"] != key || fields["Content-Type"] != "image/png" || fields["policy"] == "" || fields["x-amz-signature"] == "" {
		t.Fatalf("fields %v", fields)
	}
	resp := post(t, url, fields, pngBytes, "http://chat.example")
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("upload: %d %s", resp.StatusCode, b)
	}
	// Browsers read the answer of a cross-origin upload only when the
	// storage allows the origin (MinIO allows every origin by default).
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" && got != "http://chat.example" {
		t.Errorf("Access-Control-Allow-Origin %q: browsers could not upload", got)
	}

	o, err = st.Inspect(ctx, key)
	if err != nil || !o.Exists || o.Size != int64(len(pngBytes)) || o.ContentType != "image/png" || !bytes.Equal(o.Head, pngBytes[:media.HeadBytes]) {
		t.Fatalf("inspect: %+v, %v", o, err)
	}
	if err := media.CheckObject(o, "image/png", int64(len(pngBytes))); err != nil {
		t.Fatal(err)
	}

	link, err := st.PresignGet(ctx, key, time.Minute, "image/png", objstore.Disposition("image/png", "cat.png"))
	if err != nil {
		t.Fatal(err)
	}
	get, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer get.Body.Close()
	b, _ := io.ReadAll(get.Body)
	if get.StatusCode != 200 || !bytes.Equal(b, pngBytes) || get.Header.Get("Content-Type") != "image/png" || get.Header.Get("Content-Disposition") != `inline; filename="cat.png"; filename*=UTF-8''cat.png` {
		t.Fatalf("download: %d %v (%d bytes)", get.StatusCode, get.Header, len(b))
	}
}

// The policy is what the storage enforces, whatever the browser sends.
func TestPolicyRefusals(t *testing.T) {
	_, st := objstoretest.NewBucket(t)
	ctx := context.Background()
	form := func(expires time.Time, max int64) (string, string, map[string]string) {
		key, _ := media.NewAttachmentKey("x.png")
		url, fields, err := st.PresignPost(ctx, key, "image/png", max, expires)
		if err != nil {
			t.Fatal(err)
		}
		return key, url, fields
	}
	refused := func(name string, resp *http.Response, key, want string) {
		t.Helper()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 == 2 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %s, want a refusal with %q", name, resp.StatusCode, b, want)
		}
		if o, err := st.Inspect(ctx, key); err != nil || o.Exists {
			t.Errorf("%s: the object was stored anyway: %+v, %v", name, o, err)
		}
	}

	key, url, fields := form(time.Now().Add(time.Minute), 100)
	refused("larger than the policy", post(t, url, fields, pngBytes, ""), key, "EntityTooLarge")

	key, url, fields = form(time.Now().Add(time.Minute), 10000)
	fields["Content-Type"] = "application/x-msdownload"
	refused("another content type", post(t, url, fields, pngBytes, ""), key, "Policy Condition failed")

	key, url, fields = form(time.Now().Add(time.Minute), 10000)
	other, _ := media.NewAttachmentKey("other.png")
	fields["key"] = other
	refused("another key", post(t, url, fields, pngBytes, ""), other, "Policy Condition failed")

	key, url, fields = form(time.Now().Add(time.Second), 10000)
	time.Sleep(2 * time.Second)
	refused("expired", post(t, url, fields, pngBytes, ""), key, "expired")
}

func TestPingAndBucket(t *testing.T) {
	cfg, st := objstoretest.NewBucket(t)
	ctx := context.Background()
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// A bucket that does not exist yet is created by the first service.
	fresh := cfg
	fresh.Bucket = cfg.Bucket + "-b"
	st2, err := objstore.Open(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if err := st2.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.RemoveBucket(context.Background()) })
	if err := st2.Put(ctx, "a/x", "text/plain", []byte("hi")); err != nil {
		t.Fatal(err)
	}

	// Storage that does not answer is an error, never a missing object.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := cfg
	dead.Endpoint = ln.Addr().String()
	ln.Close()
	st3, err := objstore.Open(dead)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := st3.Ping(ctx); err == nil {
		t.Fatal("ping of a dead endpoint succeeded")
	}
	if o, err := st3.Inspect(ctx, "a/x"); err == nil {
		t.Fatalf("inspect on a dead endpoint: %+v, no error", o)
	}
}

// Browser links carry the public URL's host when one is configured.
func TestPublicURL(t *testing.T) {
	cfg := objstoretest.Config(t)
	cfg.Bucket = "chillin"
	cfg.PublicURL = "https://media.chat.example"
	st, err := objstore.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url, _, err := st.PresignPost(context.Background(), "a/x/y", "image/png", 10, time.Now().Add(time.Minute))
	if err != nil || !strings.HasPrefix(url, "https://media.chat.example/chillin") {
		t.Fatalf("post url %q, %v", url, err)
	}
	link, err := st.PresignGet(context.Background(), "a/x/y", time.Minute, "image/png", "inline")
	if err != nil || !strings.HasPrefix(link, "https://media.chat.example/chillin/a/x/y?") {
		t.Fatalf("get url %q, %v", link, err)
	}
}

func TestConfigValidate(t *testing.T) {
	good := objstore.Config{Endpoint: "127.0.0.1:9000", AccessKey: "a", SecretKey: "s", Bucket: "chillin"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*objstore.Config){
		"no keys":        func(c *objstore.Config) { c.SecretKey = "" },
		"bad bucket":     func(c *objstore.Config) { c.Bucket = "Bad_Bucket" },
		"no bucket":      func(c *objstore.Config) { c.Bucket = "" },
		"path":           func(c *objstore.Config) { c.Endpoint = "http://127.0.0.1:9000/x" },
		"scheme":         func(c *objstore.Config) { c.Endpoint = "ftp://127.0.0.1:9000" },
		"public no url":  func(c *objstore.Config) { c.PublicURL = "media.example:9000" },
		"public w/ path": func(c *objstore.Config) { c.PublicURL = "https://media.example/bucket" },
	} {
		c := good
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: %+v validated", name, c)
		}
	}
	for _, ep := range []string{"http://127.0.0.1:9000", "https://s3.example"} {
		c := good
		c.Endpoint = ep
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", ep, err)
		}
	}
}

func TestDisposition(t *testing.T) {
	for _, tc := range []struct{ typ, name, want string }{
		{"image/png", "cat.png", `inline; filename="cat.png"; filename*=UTF-8''cat.png`},
		// The name's extension follows the type the bytes were checked to be.
		{"image/png", "x.html", `inline; filename="x.png"; filename*=UTF-8''x.png`},
		{"image/jpeg", "IMG.JPEG", `inline; filename="IMG.JPEG"; filename*=UTF-8''IMG.JPEG`},
		{"text/plain", "notes", `attachment; filename="notes.txt"; filename*=UTF-8''notes.txt`},
		{"application/pdf", "evil.exe", `attachment; filename="evil.pdf"; filename*=UTF-8''evil.pdf`},
		{"application/pdf", "report.pdf", `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`},
		{"text/plain", `a"b\c%.txt`, `attachment; filename="a_b_c_.txt"; filename*=UTF-8''a%22b%5Cc%25.txt`},
		{"application/zip", "résumé.zip", `attachment; filename="r__sum__.zip"; filename*=UTF-8''r%C3%A9sum%C3%A9.zip`},
	} {
		if got := objstore.Disposition(tc.typ, tc.name); got != tc.want {
			t.Errorf("Disposition(%s, %q) = %s, want %s", tc.typ, tc.name, got, tc.want)
		}
	}
}

func TestRecords(t *testing.T) {
	// The prefix's keys are deleted when the test ends.
	rdb, prefix := redistest.Client(t), redistest.Prefix(t)
	recs := objstore.NewRecords(rdb, prefix)
	ctx := context.Background()
	key := "a/" + strings.Repeat("b", 26) + "/cat.png"

	if _, found, err := recs.Get(ctx, key); err != nil || found {
		t.Fatalf("no record yet: %v %v", found, err)
	}
	if _, found, err := recs.Claim(ctx, key, "r alice c1"); err != nil || found {
		t.Fatalf("claim without a record: found=%v %v", found, err)
	}
	want := media.Upload{User: "alice", Purpose: media.PurposeAttachment, ContentType: "image/png", Size: 2048}
	if err := recs.Put(ctx, key, want); err != nil {
		t.Fatal(err)
	}
	got, found, err := recs.Get(ctx, key)
	if err != nil || !found || got != want {
		t.Fatalf("get %+v %v %v, want %+v", got, found, err, want)
	}
	if ttl := rdb.PTTL(ctx, prefix+"upload:"+key).Val(); ttl <= 0 || ttl > media.RecordTTL {
		t.Fatalf("record TTL %v, want at most %v", ttl, media.RecordTTL)
	}
	for i, tc := range []struct{ claimant, holder string }{
		{"lobby alice c1", "lobby alice c1"},
		{"lobby alice c1", "lobby alice c1"}, // the same message again
		{"lobby alice c2", "lobby alice c1"}, // another message: taken
		{"other bob c1", "lobby alice c1"},
	} {
		holder, found, err := recs.Claim(ctx, key, tc.claimant)
		if err != nil || !found || holder != tc.holder {
			t.Fatalf("claim %d by %q: %q %v %v, want %q", i, tc.claimant, holder, found, err, tc.holder)
		}
	}
	got, _, _ = recs.Get(ctx, key)
	if got.Claim != "lobby alice c1" {
		t.Fatalf("claim %q", got.Claim)
	}
}

func ExampleDisposition() {
	fmt.Println(objstore.Disposition("application/pdf", "q3.pdf"))
	// Output: attachment; filename="q3.pdf"; filename*=UTF-8''q3.pdf
}

// A sealed copy is made once: copying again, after the original was
// replaced, leaves the sealed bytes alone. Removing is idempotent.
func TestSealAndRemove(t *testing.T) {
	_, st := objstoretest.NewBucket(t)
	ctx := context.Background()
	key, _ := media.NewAttachmentKey("cat.png")
	sealed := media.SealedKey(key)
	if err := st.Seal(ctx, key, sealed); err == nil {
		t.Fatal("sealing an object that was never uploaded succeeded")
	}
	if err := st.Put(ctx, key, "image/png", pngBytes); err != nil {
		t.Fatal(err)
	}
	if err := st.Seal(ctx, key, sealed); err != nil {
		t.Fatal(err)
	}
	other := append([]byte(nil), pngBytes...)
	other[len(other)-1] ^= 0xff
	if err := st.Put(ctx, key, "image/png", other); err != nil {
		t.Fatal(err)
	}
	if err := st.Seal(ctx, key, sealed); err != nil {
		t.Fatal(err)
	}
	o, err := st.Inspect(ctx, sealed)
	if err != nil || !o.Exists || o.Size != int64(len(pngBytes)) || o.ContentType != "image/png" {
		t.Fatalf("sealed copy: %+v, %v", o, err)
	}
	link, err := st.PresignGet(ctx, sealed, time.Minute, "image/png", "inline")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(b, pngBytes) {
		t.Fatal("sealing again replaced the sealed bytes")
	}
	for range 2 { // the second time everything is gone already
		if err := st.Remove(ctx, key, sealed); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{key, sealed} {
		if o, err := st.Stat(ctx, k); err != nil || o.Exists {
			t.Fatalf("%s after Remove: %+v, %v", k, o, err)
		}
	}
}

func TestRecordsMarkDeleted(t *testing.T) {
	rdb, prefix := redistest.Client(t), redistest.Prefix(t)
	recs := objstore.NewRecords(rdb, prefix)
	ctx := context.Background()
	key := "a/" + strings.Repeat("c", 26) + "/cat.png"
	if err := recs.MarkDeleted(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, found, err := recs.Get(ctx, key); err != nil || found {
		t.Fatalf("marking an absent record created one: %v %v", found, err)
	}
	if err := recs.Put(ctx, key, media.Upload{User: "alice", Purpose: media.PurposeAttachment, ContentType: "image/png", Size: 9}); err != nil {
		t.Fatal(err)
	}
	if err := recs.MarkDeleted(ctx, key); err != nil {
		t.Fatal(err)
	}
	if u, found, err := recs.Get(ctx, key); err != nil || !found || !u.Deleted {
		t.Fatalf("after MarkDeleted: %+v %v %v", u, found, err)
	}
}
