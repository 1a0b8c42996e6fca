package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/gateway/internal/readmodel"
)

// What REST answers look like: the JSON bodies, the error envelope and the
// status of each error code.

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, e *events.Error) {
	writeJSON(w, status, map[string]any{"error": e})
}

// statusOf maps a user-facing error code to its HTTP status.
func statusOf(code string) int {
	switch code {
	case events.CodeUnauthenticated, events.CodeInvalidCredentials:
		return http.StatusUnauthorized
	case events.CodeForbidden, events.CodeNotMember, events.CodeWrongPassword:
		return http.StatusForbidden
	case events.CodeNotFound, events.CodeNoSuchRoom:
		return http.StatusNotFound
	case events.CodeUsernameTaken, events.CodeRoomExists:
		return http.StatusConflict
	case events.CodeTooManySockets, events.CodeRateLimited:
		return http.StatusTooManyRequests
	case events.CodeUnavailable, events.CodeTimeout:
		return http.StatusServiceUnavailable
	case events.CodeInternal:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// fail answers with err's code, or a generic 500 for an internal error,
// which is logged and never shown.
func (s *Server) fail(w http.ResponseWriter, err error) {
	var e *events.Error
	if errors.As(err, &e) {
		writeError(w, statusOf(e.Code), e)
		return
	}
	s.log.Error("request failed", "err", err)
	writeError(w, http.StatusInternalServerError, events.Errorf(events.CodeInternal, "something went wrong on our side"))
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return events.Errorf(events.CodeBadRequest, "invalid JSON body: %v", err)
	}
	return nil
}

type userJSON struct {
	ID          string    `json:"id"`
	Username    string    `json:"username"`
	DisplayName string    `json:"displayName"`
	AvatarURL   *string   `json:"avatarUrl"`
	CreatedAt   time.Time `json:"createdAt"`
}

func (u userRecord) json() userJSON {
	var avatar *string
	if u.AvatarKey != "" {
		a := "/api/files/" + u.AvatarKey
		avatar = &a
	}
	return userJSON{ID: u.ID, Username: u.ID, DisplayName: u.DisplayName, AvatarURL: avatar, CreatedAt: u.CreatedAt}
}

type roomJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	IsPrivate   bool      `json:"isPrivate"`
	MemberCount int       `json:"memberCount"`
	OnlineCount int       `json:"onlineCount"`
	HeadSeq     uint64    `json:"headSeq"`
	CreatedBy   string    `json:"createdBy"`
	CreatedAt   time.Time `json:"createdAt"`
}

// roomsJSON are rooms as clients see them, with the number of their
// members who have a live socket.
func (s *Server) roomsJSON(ctx context.Context, rooms []readmodel.Room) []roomJSON {
	online := s.onlineSet(ctx)
	out := make([]roomJSON, len(rooms))
	for i, r := range rooms {
		out[i] = roomJSON{ID: r.ID, Name: r.Name, Description: r.Description, IsPrivate: r.IsPrivate,
			MemberCount: r.MemberCount, HeadSeq: r.HeadSeq, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt}
		for _, m := range r.Members {
			if online[m] {
				out[i].OnlineCount++
			}
		}
	}
	return out
}

type memberJSON struct {
	User        string  `json:"user"`
	DisplayName string  `json:"displayName"`
	AvatarURL   *string `json:"avatarUrl"`
	Status      string  `json:"status"`
}
