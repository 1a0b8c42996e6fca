package media

import (
	"bytes"
	"strings"
	"testing"
)

// Real first bytes of each allowed type, and of things that must never pass
// for them.
var (
	pngHead  = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	jpegHead = []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
	gifHead  = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!")
	webpHead = []byte("RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00")
	pdfHead  = []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
	zipHead  = []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00")
	textHead = []byte("Meeting notes\nbring snacks\n")
	elfHead  = []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00")
	peHead   = append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"), bytes.Repeat([]byte{0}, 48)...)
	htmlHead = []byte("<!DOCTYPE html><html><script>alert(1)</script>")
)

func TestSniffAndMatches(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		head []byte
		ok   bool
	}{
		{"image/png", pngHead, true},
		{"image/jpeg", jpegHead, true},
		{"image/gif", gifHead, true},
		{"image/webp", webpHead, true},
		{"application/pdf", pdfHead, true},
		{"application/zip", zipHead, true},
		{"text/plain", textHead, true},
		{"image/png", elfHead, false},  // an executable renamed .png
		{"image/png", peHead, false},   // a Windows executable renamed .png
		{"image/png", jpegHead, false}, // a JPEG declared as PNG
		{"text/plain", htmlHead, false},
		{"text/plain", elfHead, false},
		{"application/pdf", textHead, false},
		{"image/png", nil, false},
	} {
		if got := Matches(tc.typ, tc.head); got != tc.ok {
			t.Errorf("Matches(%s, %q) = %v (sniffed %s), want %v", tc.typ, tc.head, got, Sniff(tc.head), tc.ok)
		}
	}
	if got := Sniff(elfHead); got != "application/octet-stream" {
		t.Errorf("Sniff(ELF) = %s", got)
	}
}

func TestAllowed(t *testing.T) {
	for _, typ := range AttachmentTypes() {
		if !Allowed(PurposeAttachment, typ) {
			t.Errorf("attachment %s refused", typ)
		}
	}
	for _, typ := range AvatarTypes() {
		if !Allowed(PurposeAvatar, typ) || !IsImage(typ) {
			t.Errorf("avatar %s refused", typ)
		}
	}
	for _, tc := range []struct{ purpose, typ string }{
		{PurposeAvatar, "application/pdf"}, {PurposeAvatar, "text/plain"},
		{PurposeAttachment, "image/svg+xml"}, {PurposeAttachment, "text/html"},
		{PurposeAttachment, "application/octet-stream"}, {PurposeAttachment, "IMAGE/PNG"},
		{PurposeAttachment, "image/png; charset=binary"}, {"banner", "image/png"}, {"", "image/png"},
	} {
		if Allowed(tc.purpose, tc.typ) {
			t.Errorf("Allowed(%q, %q), want refused", tc.purpose, tc.typ)
		}
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"cat.png":                            "cat.png",
		"My Holiday Photo (1).JPG":           "My_Holiday_Photo_1_.JPG",
		"../../etc/passwd":                   "passwd",
		`C:\Users\me\report.pdf`:             "report.pdf",
		".htaccess":                          "htaccess",
		"résumé.pdf":                         "r_sum_.pdf",
		"a\x00b.txt":                         "a_b.txt",
		strings.Repeat("x", 300) + ".tar.gz": strings.Repeat("x", 97) + ".gz",
	} {
		got, err := SafeName(in)
		if err != nil || got != want {
			t.Errorf("SafeName(%q) = %q, %v; want %q", in, got, err, want)
		}
		if len(got) > maxKeyName {
			t.Errorf("SafeName(%q) is %d bytes", in, len(got))
		}
	}
	for _, in := range []string{"", "...", "日本語", "/", "___", "\xff.png"} {
		if got, err := SafeName(in); err == nil {
			t.Errorf("SafeName(%q) = %q, want an error", in, got)
		}
	}
}

func TestKeys(t *testing.T) {
	a, err := NewAttachmentKey("Cat Pic.png")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewAttachmentKey("Cat Pic.png")
	if a == b {
		t.Fatal("two uploads of one name got one key")
	}
	k, err := ParseKey(a)
	if err != nil || k.Purpose != PurposeAttachment || k.Name != "Cat_Pic.png" || !strings.HasSuffix(a, "/Cat_Pic.png") {
		t.Fatalf("ParseKey(%q) = %+v, %v", a, k, err)
	}
	v := NewAvatarKey("bob-smith")
	if k, err := ParseKey(v); err != nil || k.Purpose != PurposeAvatar || k.Owner != "bob-smith" {
		t.Fatalf("ParseKey(%q) = %+v, %v", v, k, err)
	}
	for _, bad := range []string{
		"", "a/", "a/short/cat.png", "v/bob/short", "a/" + strings.Repeat("a", 26) + "/../x",
		"a/" + strings.Repeat("a", 26) + "/cat.png/extra", "v/Bob/" + strings.Repeat("a", 26),
		"v/b/" + strings.Repeat("a", 26), "x/" + strings.Repeat("a", 26) + "/cat.png",
		"a/" + strings.Repeat("A", 26) + "/cat.png", "/a/" + strings.Repeat("a", 26) + "/cat.png",
	} {
		if k, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) = %+v, want an error", bad, k)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"cat.png", "Résumé 2026.pdf", "日本語.txt"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "   ", "a/b.png", `a\b.png`, "a\x00.png", "evil\u202egnp.exe", strings.Repeat("x", 256), "\xff"} {
		if err := CheckName(bad); err == nil {
			t.Errorf("CheckName(%q) passed", bad)
		}
	}
}

func TestCheckObject(t *testing.T) {
	png := Object{Exists: true, Size: 2048, ContentType: "image/png", Head: pngHead}
	if err := CheckObject(png, "image/png", 2048); err != nil {
		t.Fatalf("a good PNG: %v", err)
	}
	if err := CheckObject(png, "image/png", 0); err != nil {
		t.Fatalf("a good PNG, any size: %v", err)
	}
	for name, tc := range map[string]struct {
		o    Object
		typ  string
		size int64
		want string
	}{
		"missing":       {Object{}, "image/png", 2048, "never uploaded"},
		"empty":         {Object{Exists: true, ContentType: "image/png"}, "image/png", 0, "limit"},
		"too big":       {Object{Exists: true, Size: MaxSize + 1, ContentType: "image/png", Head: pngHead}, "image/png", MaxSize + 1, "limit"},
		"size differs":  {png, "image/png", 2047, "not 2047"},
		"stored type":   {png, "image/gif", 2048, "uploaded as"},
		"executable":    {Object{Exists: true, Size: 2048, ContentType: "image/png", Head: elfHead}, "image/png", 2048, "not image/png"},
		"pe executable": {Object{Exists: true, Size: 2048, ContentType: "image/png", Head: peHead}, "image/png", 2048, "application/octet-stream"},
	} {
		err := CheckObject(tc.o, tc.typ, tc.size)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}

func TestServedName(t *testing.T) {
	for _, tc := range []struct{ name, typ, want string }{
		{"cat.png", "image/png", "cat.png"},
		{"x.html", "image/png", "x.png"},
		{"photo.JPG", "image/jpeg", "photo.JPG"},
		{"photo.jpeg", "image/jpeg", "photo.jpeg"},
		{"photo.png", "image/jpeg", "photo.jpg"},
		{"notes", "text/plain", "notes.txt"},
		{"report.pdf.exe", "application/pdf", "report.pdf.pdf"},
		{".bashrc", "text/plain", ".bashrc.txt"},
		{"any.bin", "application/x-unknown", "any.bin"},
	} {
		if got := ServedName(tc.name, tc.typ); got != tc.want {
			t.Errorf("ServedName(%q, %s) = %q, want %q", tc.name, tc.typ, got, tc.want)
		}
	}
}

func TestSealedKey(t *testing.T) {
	a, _ := NewAttachmentKey("cat.png")
	s := SealedKey(a)
	if s[0] != 's' || s[1:] != a[1:] {
		t.Fatalf("SealedKey(%q) = %q", a, s)
	}
	// Nobody can ask for a sealed key by name: it is not a key clients use.
	if _, err := ParseKey(s); err == nil {
		t.Fatalf("ParseKey accepts the sealed key %q", s)
	}
}
