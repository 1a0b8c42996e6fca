// Package media holds the rules for the files people upload, attachments
// and avatars, that the gateway (which hands out uploads and serves files)
// and the validator (which accepts attachments) must agree on: the content
// types allowed, the size limit, the shape of object keys, the upload
// record kept beside each upload, and how an object's real type is told from
// its first bytes.
//
// It is pure: no I/O, no clock, no randomness except NewAttachmentKey and
// NewAvatarKey, which draw the random part of a key. Everything here is
// safe for concurrent use.
package media

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chillin-chat/chillin/events"
)

// Limits of uploads and attachments.
const (
	// MaxSize is the largest object a person may upload, in bytes.
	MaxSize = 10 << 20
	// MaxAttachments bounds the attachments of one message.
	MaxAttachments = 10
	// MaxNameBytes bounds an attachment's display name.
	MaxNameBytes = 255
	// maxKeyName bounds the sanitised file name inside a key.
	maxKeyName = 100
	// HeadBytes is how much of an object Sniff needs to see.
	HeadBytes = 512
	// RecordTTL is how long an upload record lives: an upload not attached
	// (or set as an avatar) within it cannot be any more.
	RecordTTL = time.Hour
)

// Purposes of an upload.
const (
	PurposeAttachment = "attachment"
	PurposeAvatar     = "avatar"
)

// Content types people may upload. Images are shown inline; everything else
// is served as a download.
var (
	imageTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}
	fileTypes  = map[string]bool{"application/pdf": true, "text/plain": true, "application/zip": true}
)

// AttachmentTypes lists the content types an attachment may have.
func AttachmentTypes() []string {
	return []string{"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain", "application/zip"}
}

// AvatarTypes lists the content types an avatar may have.
func AvatarTypes() []string { return []string{"image/png", "image/jpeg", "image/gif", "image/webp"} }

// IsImage reports whether contentType is one of the allowed image types.
func IsImage(contentType string) bool { return imageTypes[contentType] }

// Allowed reports whether an upload for purpose may have contentType. Types
// are matched exactly: lowercase, without parameters.
func Allowed(purpose, contentType string) bool {
	switch purpose {
	case PurposeAttachment:
		return imageTypes[contentType] || fileTypes[contentType]
	case PurposeAvatar:
		return imageTypes[contentType]
	}
	return false
}

// Sniff returns the media type (without parameters) that an object's first
// bytes show, as net/http.DetectContentType tells it: "image/png" for a PNG,
// "application/octet-stream" for an executable or anything unknown.
func Sniff(head []byte) string {
	if len(head) > HeadBytes {
		head = head[:HeadBytes]
	}
	t, _, err := mime.ParseMediaType(http.DetectContentType(head))
	if err != nil {
		return "application/octet-stream"
	}
	return t
}

// Matches reports whether an object's first bytes are what contentType
// says: a PNG's bytes for image/png, text for text/plain, and so on.
func Matches(contentType string, head []byte) bool {
	return len(head) > 0 && Sniff(head) == contentType
}

// Keys. Every object key is chosen by the server and holds no user text
// beyond a sanitised file name:
//
//	a/<random>/<name>   an attachment; <name> is SafeName of the file name
//	v/<user>/<random>   an avatar of <user>
//
// <random> is 128 random bits in lowercase base32 (26 characters), so keys
// cannot be guessed.
var (
	attachmentKeyRe = regexp.MustCompile(`^a/[a-z2-7]{26}/[A-Za-z0-9._-]{1,100}$`)
	avatarKeyRe     = regexp.MustCompile(`^v/([^/]+)/[a-z2-7]{26}$`)
	lowerBase32     = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
)

func random() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return lowerBase32.EncodeToString(b)
}

// NewAttachmentKey returns a fresh attachment key for a file named filename.
func NewAttachmentKey(filename string) (string, error) {
	name, err := SafeName(filename)
	if err != nil {
		return "", err
	}
	return "a/" + random() + "/" + name, nil
}

// NewAvatarKey returns a fresh avatar key of user.
func NewAvatarKey(user string) string { return "v/" + user + "/" + random() }

// SealedKey is where the validator copies an attachment's object when a
// message claims it (s/<random>/<name> for a/<random>/<name>), and the only
// key its file is served from from then on. No upload form is ever handed
// out for a sealed key, so the bytes a room accepted cannot be replaced by
// posting the form of the original key again.
func SealedKey(key string) string { return "s" + strings.TrimPrefix(key, "a") }

// extensions maps each allowed content type to the file name extensions it
// goes by, the one it is served with first.
var extensions = map[string][]string{
	"image/png":       {".png"},
	"image/jpeg":      {".jpg", ".jpeg"},
	"image/gif":       {".gif"},
	"image/webp":      {".webp"},
	"application/pdf": {".pdf"},
	"text/plain":      {".txt"},
	"application/zip": {".zip"},
}

// ServedName is the name a file of contentType (the type its bytes were
// checked to be) is served under: name itself if its extension is one of
// the type's (any case), else name with its extension replaced by the
// type's (x.html served as image/png is x.png; notes as text/plain is
// notes.txt), so that a saved file opens as what it is. Types outside the
// allowed ones keep the name.
func ServedName(name, contentType string) string {
	exts := extensions[contentType]
	if len(exts) == 0 {
		return name
	}
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i:]
	}
	for _, e := range exts {
		if strings.EqualFold(ext, e) {
			return name
		}
	}
	return base + exts[0]
}

// Key is what an object key says about itself.
type Key struct {
	Purpose string // PurposeAttachment or PurposeAvatar
	// Owner is the user of an avatar key; attachment keys name nobody.
	Owner string
	// Name is the sanitised file name of an attachment key.
	Name string
}

// ParseKey checks the shape of an object key.
func ParseKey(key string) (Key, error) {
	if attachmentKeyRe.MatchString(key) {
		return Key{Purpose: PurposeAttachment, Name: key[strings.LastIndexByte(key, '/')+1:]}, nil
	}
	if m := avatarKeyRe.FindStringSubmatch(key); m != nil && events.ValidUsername(m[1]) {
		return Key{Purpose: PurposeAvatar, Owner: m[1]}, nil
	}
	return Key{}, fmt.Errorf("%q is not a file key of this server", truncate(key, 80))
}

// SafeName turns a file name as a person's computer calls it into the name
// used inside a key: the last path element, each run of characters outside
// [A-Za-z0-9._-] made one '_', no leading dots, at most 100 bytes with the
// extension kept. A name with nothing usable left is an error.
func SafeName(filename string) (string, error) {
	if !utf8.ValidString(filename) || len(filename) > 1024 {
		return "", fmt.Errorf("a file name is valid UTF-8 of at most 1024 bytes")
	}
	if i := strings.LastIndexAny(filename, `/\`); i >= 0 {
		filename = filename[i+1:]
	}
	var b strings.Builder
	under := false
	for _, r := range filename {
		ok := r < utf8.RuneSelf && (r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		switch {
		case ok:
			b.WriteRune(r)
			under = false
		case !under:
			b.WriteByte('_')
			under = true
		}
	}
	name := strings.TrimLeft(b.String(), ".")
	if len(name) > maxKeyName {
		ext := ""
		if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 16 {
			ext = name[i:]
		}
		name = name[:maxKeyName-len(ext)] + ext
	}
	if strings.Trim(name, "._-") == "" {
		return "", fmt.Errorf("the file name %q has no letters or digits", truncate(filename, 80))
	}
	return name, nil
}

// CheckName applies the rules of an attachment's display name: 1 to 255
// bytes of valid UTF-8, not blank, no control or bidi override characters,
// no path separators.
func CheckName(name string) error {
	switch {
	case !utf8.ValidString(name):
		return fmt.Errorf("an attachment name must be valid UTF-8")
	case strings.TrimSpace(name) == "":
		return fmt.Errorf("an attachment needs a name")
	case len(name) > MaxNameBytes:
		return fmt.Errorf("an attachment name is at most %d bytes", MaxNameBytes)
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("an attachment name holds no '/' or '\\'")
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return fmt.Errorf("an attachment name holds no control characters")
		}
	}
	return nil
}

// Upload is the record the gateway keeps beside each upload it hands out,
// for as long as RecordTTL: who asked for it and what for. The validator
// reads it to know who may attach the object and marks it used (Claim), so
// an upload is attached by its uploader only, to one message only.
type Upload struct {
	User        string `json:"user"`
	Purpose     string `json:"purpose"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"` // declared; the object may not be larger
	// Claim names the message the upload is attached to (Claimant), once
	// it is; empty before.
	Claim string `json:"claim,omitempty"`
	// Deleted is set once the message it is attached to was deleted and
	// its objects removed: the file is gone for everyone.
	Deleted bool `json:"deleted,omitempty"`
}

// Claimant names a message for Upload.Claim: the same message (a resend of
// the same clientId, or a command decided again) always has the same name.
func Claimant(room, user, clientID string) string { return room + " " + user + " " + clientID }

// ClaimParts splits a Claimant into its room, user and clientId.
func ClaimParts(claim string) (room, user, clientID string) {
	room, rest, _ := strings.Cut(claim, " ")
	user, clientID, _ = strings.Cut(rest, " ")
	return room, user, clientID
}

// ClaimRoom is the room of a Claimant.
func ClaimRoom(claim string) string {
	room, _, _ := strings.Cut(claim, " ")
	return room
}

// Object is what storage holds under a key, as far as the rules need it.
type Object struct {
	Exists      bool
	Size        int64
	ContentType string // as stored (the upload form's Content-Type)
	Head        []byte // the first HeadBytes bytes (fewer if it is smaller)
}

// CheckObject checks an uploaded object against what is claimed of it: it
// exists, is 1..MaxSize bytes (and size bytes, if size > 0), was stored as
// contentType, and its first bytes are really of that type. The error is
// meant for the person who uploaded it.
func CheckObject(o Object, contentType string, size int64) error {
	switch {
	case !o.Exists:
		return fmt.Errorf("the file was never uploaded, or its upload failed")
	case o.Size < 1 || o.Size > MaxSize:
		return fmt.Errorf("the file is %d bytes; the limit is %d", o.Size, MaxSize)
	case size > 0 && o.Size != size:
		return fmt.Errorf("the file is %d bytes, not %d", o.Size, size)
	case o.ContentType != contentType:
		return fmt.Errorf("the file was uploaded as %q, not %q", o.ContentType, contentType)
	case !Matches(contentType, o.Head):
		return fmt.Errorf("the file's content is not %s (it looks like %s)", contentType, Sniff(o.Head))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
