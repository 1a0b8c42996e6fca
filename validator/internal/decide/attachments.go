package decide

import (
	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/media"
)

// Upload is what the caller learned about one attachment's object, for
// Decide to judge: the upload record the gateway kept when it handed the
// upload out, and the object in storage.
type Upload struct {
	// Recorded is false when there is no record: the key was never handed
	// out, or the record expired (media.RecordTTL).
	Recorded bool
	Record   media.Upload
	// Object is what storage holds under the key (looked up only for a
	// recorded upload).
	Object media.Object
}

// attachmentsOf checks a message's attachments. It returns the attachments
// to record (nil, nil when Uploads must be looked up first: Decide then asks
// for them with Decision.Inspect), or why they are refused.
//
// The rules, in order: storage is configured; at most media.MaxAttachments;
// each has a well-formed attachment key (once), a name, an allowed content
// type and a size of 1..media.MaxSize bytes; then, against its Upload: the
// key was handed out to the sender for an attachment with this content type
// and is not attached to another message; and the object exists, is exactly
// that size and its first bytes are really of that type.
func attachmentsOf(in Input, p events.MessageSend) ([]events.Attachment, *events.Error) {
	bad := func(format string, args ...any) *events.Error {
		return events.Errorf(events.CodeBadAttachment, format, args...)
	}
	if !in.Media {
		return nil, bad("attachments are not enabled on this server")
	}
	if len(p.Attachments) > media.MaxAttachments {
		return nil, bad("a message has at most %d attachments", media.MaxAttachments)
	}
	seen := map[string]bool{}
	out := make([]events.Attachment, len(p.Attachments))
	for i, a := range p.Attachments {
		if k, err := media.ParseKey(a.Key); err != nil || k.Purpose != media.PurposeAttachment {
			return nil, bad("attachment %d: %q is not an attachment key; upload the file with POST /api/uploads first", i+1, a.Key)
		}
		if seen[a.Key] {
			return nil, bad("attachment %d: %s is attached twice", i+1, a.Key)
		}
		seen[a.Key] = true
		if err := media.CheckName(a.Name); err != nil {
			return nil, bad("attachment %d: %v", i+1, err)
		}
		if !media.Allowed(media.PurposeAttachment, a.ContentType) {
			return nil, bad("attachment %d: content type %q is not allowed", i+1, a.ContentType)
		}
		if a.Size < 1 || a.Size > media.MaxSize {
			return nil, bad("attachment %d: size %d is not 1 to %d bytes", i+1, a.Size, media.MaxSize)
		}
		out[i] = events.Attachment{Key: a.Key, Name: a.Name, ContentType: a.ContentType, Size: a.Size}
	}
	if in.Uploads == nil {
		return nil, nil
	}
	claimant := media.Claimant(in.Cmd.Room, in.Cmd.User, p.ClientID)
	for i, a := range out {
		u, ok := in.Uploads[a.Key]
		switch {
		case !ok || !u.Recorded:
			return nil, bad("attachment %d (%s): no upload of it is on record; uploads must be attached within %v", i+1, a.Name, media.RecordTTL)
		case u.Record.User != in.Cmd.User:
			return nil, bad("attachment %d (%s) was uploaded by someone else", i+1, a.Name)
		case u.Record.Purpose != media.PurposeAttachment:
			return nil, bad("attachment %d (%s) was not uploaded as an attachment", i+1, a.Name)
		case u.Record.Claim != "" && u.Record.Claim != claimant:
			return nil, bad("attachment %d (%s) is already attached to another message", i+1, a.Name)
		case u.Record.ContentType != a.ContentType:
			return nil, bad("attachment %d (%s) was uploaded as %s, not %s", i+1, a.Name, u.Record.ContentType, a.ContentType)
		}
		if err := media.CheckObject(u.Object, a.ContentType, a.Size); err != nil {
			return nil, bad("attachment %d (%s): %v", i+1, a.Name, err)
		}
	}
	return out, nil
}

// AttachmentTaken is the rejection of a message whose attachment (key) was
// claimed by another message (holder "" means its upload record is gone)
// between the decision and the claim.
func AttachmentTaken(key, holder string) *events.Error {
	if holder == "" {
		return events.Errorf(events.CodeBadAttachment, "the upload of %s is no longer on record; upload the file again", key)
	}
	return events.Errorf(events.CodeBadAttachment, "%s is already attached to another message", key)
}
