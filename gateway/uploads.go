package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/media"
	"github.com/chillin-chat/chillin/events/objstore"
	"github.com/chillin-chat/chillin/gateway/internal/readmodel"
)

// Files: attachments and avatars live in S3-compatible storage (MinIO).
// Browsers upload straight to it with a presigned POST policy that the
// gateway hands out for one server-chosen key (POST /api/uploads), and
// download through a short-lived presigned GET that the gateway redirects
// to after checking who asks (GET /api/files/{key}). The bytes never pass
// through the gateway. Beside each upload it hands out, the gateway keeps an
// upload record in Redis (objstore.Records): who may attach the object, once.

const (
	// storageTimeout bounds one round trip to storage or to the records.
	storageTimeout = 5 * time.Second
	// fileLinkTTL is how long a download link stays valid.
	fileLinkTTL = time.Minute
	// fileCache is how long a browser may reuse a download redirect; well
	// inside fileLinkTTL.
	fileCache = "private, max-age=30"
)

// mediaStore is the gateway's side of media storage.
type mediaStore struct {
	store   *objstore.Store
	records objstore.Records
}

// openMedia connects the configured storage, if any. Storage down at start
// is not fatal: uploads and downloads answer 503 until it is back.
func (s *Server) openMedia(ctx context.Context) error {
	if !s.cfg.Storage.Enabled() {
		s.log.Info("no media storage configured: uploads answer 503, attachments are refused")
		return nil
	}
	st, err := objstore.Open(s.cfg.Storage)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	s.media = &mediaStore{store: st, records: objstore.NewRecords(s.rdb, s.cfg.RedisPrefix)}
	ctx, cancel := context.WithTimeout(ctx, storageTimeout)
	defer cancel()
	if err := st.EnsureBucket(ctx); err != nil {
		s.log.Warn("media storage not ready at start; uploads wait for it", "err", err)
	}
	return nil
}

var errNoStorage = events.Errorf(events.CodeStorageUnavailable, "file uploads are not enabled on this server")

func storageDown() *events.Error {
	return events.Errorf(events.CodeStorageUnavailable, "file storage is temporarily unavailable; try again")
}

// failFile answers a files endpoint's error with its status.
func (s *Server) failFile(w http.ResponseWriter, err error) {
	var e *events.Error
	if errors.As(err, &e) {
		switch e.Code {
		case events.CodeStorageUnavailable:
			writeError(w, http.StatusServiceUnavailable, e)
			return
		case events.CodeBadUpload, events.CodeBadAttachment:
			writeError(w, http.StatusBadRequest, e)
			return
		case events.CodeFileDeleted:
			writeError(w, http.StatusGone, e)
			return
		}
	}
	s.fail(w, err)
}

type uploadRequest struct {
	Filename    string `json:"filename"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
	Purpose     string `json:"purpose"`
}

// handleUpload hands out a presigned POST policy for one new object.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	if s.media == nil {
		s.failFile(w, errNoStorage)
		return
	}
	var req uploadRequest
	if err := decodeBody(r, &req); err != nil {
		s.failFile(w, err)
		return
	}
	if e := events.CheckName("filename", req.Filename, maxFieldBytes); e != nil {
		s.failFile(w, e)
		return
	}
	user := sessionOf(r).User
	bad := func(format string, args ...any) { s.failFile(w, events.Errorf(events.CodeBadUpload, format, args...)) }
	var allowed []string
	switch req.Purpose {
	case media.PurposeAttachment:
		allowed = media.AttachmentTypes()
	case media.PurposeAvatar:
		allowed = media.AvatarTypes()
	default:
		bad("purpose is %q or %q", media.PurposeAttachment, media.PurposeAvatar)
		return
	}
	if !media.Allowed(req.Purpose, req.ContentType) {
		bad("content type %q is not allowed for an %s; allowed: %s", req.ContentType, req.Purpose, strings.Join(allowed, ", "))
		return
	}
	if req.Size < 1 || req.Size > media.MaxSize {
		bad("size %d: a file is 1 to %d bytes (10 MiB)", req.Size, media.MaxSize)
		return
	}
	key := media.NewAvatarKey(user)
	if req.Purpose == media.PurposeAttachment {
		var err error
		if key, err = media.NewAttachmentKey(req.Filename); err != nil {
			bad("filename: %v", err)
			return
		}
	} else if _, err := media.SafeName(req.Filename); err != nil {
		bad("filename: %v", err)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), storageTimeout)
	defer cancel()
	// One round trip tells whether storage answers (and creates the bucket
	// if it went missing), so that a form is never handed out for storage
	// that is away.
	if err := s.media.store.Ping(ctx); err != nil {
		s.log.Warn("upload: storage", "user", user, "err", err)
		s.failFile(w, storageDown())
		return
	}
	expires := time.Now().Add(s.cfg.UploadExpiry).UTC().Truncate(time.Second)
	url, fields, err := s.media.store.PresignPost(ctx, key, req.ContentType, req.Size, expires)
	if err != nil {
		s.log.Warn("upload: policy", "user", user, "err", err)
		s.failFile(w, storageDown())
		return
	}
	if err := s.media.records.Put(ctx, key, media.Upload{User: user, Purpose: req.Purpose, ContentType: req.ContentType, Size: req.Size}); err != nil {
		s.log.Warn("upload: record", "user", user, "err", err)
		s.failFile(w, storageDown())
		return
	}
	s.log.Info("upload handed out", "user", user, "purpose", req.Purpose, "type", req.ContentType, "size", req.Size)
	writeJSON(w, http.StatusOK, map[string]any{"url": url, "fields": fields, "key": key, "expiresAt": expires})
}

// handleFile redirects to a short-lived download link of an object, for
// those allowed to see it: an attachment for the members of a room holding a
// (not deleted) message with it, and for its uploader; an avatar for anyone
// logged in. A file is served under a name whose extension agrees with its
// type (objstore.Disposition).
func (s *Server) handleFile(w http.ResponseWriter, r *http.Request) {
	if s.media == nil {
		s.failFile(w, errNoStorage)
		return
	}
	key := r.PathValue("key")
	notFound := events.Errorf(events.CodeNotFound, "no such file")
	k, err := media.ParseKey(key)
	if err != nil {
		s.failFile(w, notFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storageTimeout)
	defer cancel()
	user := sessionOf(r).User
	var contentType, name string
	switch k.Purpose {
	case media.PurposeAvatar:
		o, err := s.media.store.Stat(ctx, key)
		if err != nil {
			s.log.Warn("file: storage", "err", err)
			s.failFile(w, storageDown())
			return
		}
		if !o.Exists || !media.IsImage(o.ContentType) {
			s.failFile(w, notFound)
			return
		}
		contentType, name = o.ContentType, "avatar"
	default:
		a, err := s.attachmentAccess(ctx, key, k, user)
		if err != nil {
			s.failFile(w, err)
			return
		}
		key, contentType, name = a.key, a.contentType, a.name
	}
	link, err := s.media.store.PresignGet(ctx, key, fileLinkTTL, contentType, objstore.Disposition(contentType, name))
	if err != nil {
		s.log.Warn("file: link", "err", err)
		s.failFile(w, storageDown())
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", fileCache)
	http.Redirect(w, r, link, http.StatusFound)
}

// fileAccess is what a reader is served of an attachment: the object key
// and the type and name it is served with.
type fileAccess struct {
	key, contentType, name string
}

// attachmentAccess tells whether user may read the attachment key, and
// what of it: once a message holds it, the sealed copy made at the claim
// (media.SealedKey; the object under key can still be replaced by posting
// its form again); before, the uploader alone sees the object itself. A
// file whose message was deleted is gone for everyone: 410 FILE_DELETED
// while its upload record lives (it is marked when the objects are
// removed, or Postgres shows the message deleted), 404 NOT_FOUND after.
func (s *Server) attachmentAccess(ctx context.Context, key string, k media.Key, user string) (fileAccess, error) {
	notFound := events.Errorf(events.CodeNotFound, "no such file")
	gone := events.Errorf(events.CodeFileDeleted, "the message holding this file was deleted")
	forbidden := events.Errorf(events.CodeForbidden, "this file belongs to a room you are not a member of")
	att, found, err := s.reads.Attachment(ctx, key, user)
	if err != nil {
		s.log.Warn("file: postgres", "err", err)
		return fileAccess{}, readmodel.Unavailable("file access")
	}
	a := fileAccess{contentType: att.ContentType, name: att.Name}
	if found && att.Member {
		return s.sealedAccess(ctx, key, a)
	}
	rec, recorded, err := s.media.records.Get(ctx, key)
	if err != nil {
		s.log.Warn("file: upload record", "err", err)
		return fileAccess{}, storageDown()
	}
	if recorded && rec.Deleted {
		return fileAccess{}, gone
	}
	mine := recorded && rec.User == user
	switch {
	case found && mine:
		return s.sealedAccess(ctx, key, a)
	case found:
		return fileAccess{}, forbidden
	case recorded && rec.Claim != "":
		// Attached to a message Postgres does not show: not yet, or no
		// longer (deleted). The claim names it.
		room, by, clientID := media.ClaimParts(rec.Claim)
		deleted, inRoom, err := s.reads.Claimed(ctx, room, by, clientID, user)
		switch {
		case err != nil:
			s.log.Warn("file: postgres", "err", err)
			return fileAccess{}, readmodel.Unavailable("file access")
		case deleted:
			return fileAccess{}, gone
		case !inRoom && !mine:
			return fileAccess{}, forbidden
		}
		return s.sealedAccess(ctx, key, fileAccess{contentType: rec.ContentType, name: k.Name})
	case mine:
		// Not attached yet: the uploader may look at the upload itself.
		o, err := s.media.store.Stat(ctx, key)
		if err != nil {
			s.log.Warn("file: storage", "err", err)
			return fileAccess{}, storageDown()
		}
		if !o.Exists {
			return fileAccess{}, notFound
		}
		return fileAccess{key: key, contentType: rec.ContentType, name: k.Name}, nil
	}
	return fileAccess{}, notFound
}

// sealedAccess serves an attached file from its sealed copy. Messages
// posted before attachments were sealed have none; their upload forms
// expired long ago, so their original objects are served.
func (s *Server) sealedAccess(ctx context.Context, key string, a fileAccess) (fileAccess, error) {
	a.key = media.SealedKey(key)
	o, err := s.media.store.Stat(ctx, a.key)
	if err != nil {
		s.log.Warn("file: storage", "err", err)
		return fileAccess{}, storageDown()
	}
	if !o.Exists {
		a.key = key
	}
	return a, nil
}

// profileJSON is a user as a `user:update` frame carries it.
type profileJSON struct {
	ID          string  `json:"id"`
	Username    string  `json:"username"`
	DisplayName string  `json:"displayName"`
	AvatarURL   *string `json:"avatarUrl"`
}

// handleAvatar sets the caller's avatar to an object they uploaded (purpose
// avatar): it must exist and be an image of an allowed type, of at most
// media.MaxSize bytes, whose bytes are really of that type. The change is a
// user fact in the log; the rooms the user is in hear it as `user:update`.
func (s *Server) handleAvatar(w http.ResponseWriter, r *http.Request) {
	if s.media == nil {
		s.failFile(w, errNoStorage)
		return
	}
	var req struct {
		Key string `json:"key"`
	}
	if err := decodeBody(r, &req); err != nil {
		s.failFile(w, err)
		return
	}
	user := sessionOf(r).User
	bad := func(format string, args ...any) {
		s.failFile(w, events.Errorf(events.CodeBadAttachment, format, args...))
	}
	k, err := media.ParseKey(req.Key)
	if err != nil || k.Purpose != media.PurposeAvatar {
		bad("%q is not an avatar upload; upload one with POST /api/uploads (purpose avatar) first", req.Key)
		return
	}
	// Avatar keys are chosen by the server for one user, and the upload
	// policy admits exactly that key: the key itself says whose it is.
	if k.Owner != user {
		bad("that avatar was uploaded by someone else")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storageTimeout)
	defer cancel()
	o, err := s.media.store.Inspect(ctx, req.Key)
	if err != nil {
		s.log.Warn("avatar: storage", "user", user, "err", err)
		s.failFile(w, storageDown())
		return
	}
	if o.Exists && !media.Allowed(media.PurposeAvatar, o.ContentType) {
		bad("an avatar is an image (%s), not %s", strings.Join(media.AvatarTypes(), ", "), o.ContentType)
		return
	}
	if err := media.CheckObject(o, o.ContentType, 0); err != nil {
		bad("avatar: %v", err)
		return
	}
	if err := s.ask(r.Context(), events.CmdUserSetAvatar, user, sessionOf(r).ID, "", events.UserSetAvatar{Key: req.Key}); err != nil {
		if e := (*events.Error)(nil); !errors.As(err, &e) {
			s.log.Warn("avatar: append", "user", user, "err", err)
		}
		s.fail(w, err)
		return
	}
	u, err := s.user(ctx, user)
	if err != nil {
		s.fail(w, err)
		return
	}
	u.AvatarKey = req.Key
	s.log.Info("avatar changed", "user", user)
	s.announceProfile(context.WithoutCancel(r.Context()), u)
	writeJSON(w, http.StatusOK, map[string]any{"user": u.json()})
}

// announceProfile tells every room the user is a member of about the
// user's profile (`user:update`). Like presence it is ephemeral: at most
// once, through the rooms' ephemeral channels; a client that missed it
// reads the profile on its next join or member list.
func (s *Server) announceProfile(ctx context.Context, u userRecord) {
	ctx, cancel := context.WithTimeout(ctx, storageTimeout)
	defer cancel()
	rooms, err := s.reads.RoomsOf(ctx, u.ID)
	if err != nil {
		s.log.Debug("profile rooms", "user", u.ID, "err", err)
		return
	}
	j := u.json()
	p := &profileJSON{ID: j.ID, Username: j.Username, DisplayName: j.DisplayName, AvatarURL: j.AvatarURL}
	for _, room := range rooms {
		s.publishEphemeral(ctx, ephemeral{Type: "user:update", From: u.ID, Room: room, Profile: p})
	}
}
