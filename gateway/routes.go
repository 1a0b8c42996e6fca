package gateway

import (
	"context"
	"net/http"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/opshttp"
)

// routes is the gateway's HTTP surface: the REST API (handlers_auth.go,
// handlers_rooms.go, uploads.go), the socket (ws.go), the probes and
// metrics, and the web app.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/auth/register", s.handleRegister)
	mux.HandleFunc("POST /api/auth/login", s.handleLogin)
	mux.HandleFunc("POST /api/auth/logout", s.authed(s.handleLogout))
	mux.HandleFunc("POST /api/auth/logout-all", s.authed(s.handleLogoutAll))
	mux.HandleFunc("GET /api/auth/me", s.authed(s.handleMe))
	mux.HandleFunc("GET /api/me/rooms", s.authed(s.handleMyRooms))
	mux.HandleFunc("GET /api/rooms", s.authed(s.handleRooms))
	mux.HandleFunc("POST /api/rooms", s.authed(s.handleCreateRoom))
	mux.HandleFunc("GET /api/rooms/{room}", s.authed(s.handleRoom))
	mux.HandleFunc("GET /api/rooms/{room}/messages", s.authed(s.handleMessages))
	mux.HandleFunc("GET /api/rooms/{room}/members", s.authed(s.handleMembers))
	mux.HandleFunc("POST /api/uploads", s.authed(s.handleUpload))
	mux.HandleFunc("GET /api/files/{key...}", s.authed(s.handleFile))
	mux.HandleFunc("PUT /api/auth/me/avatar", s.authed(s.handleAvatar))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, events.Errorf(events.CodeNotFound, "no such endpoint"))
	})
	mux.HandleFunc("GET /ws", s.handleWS)
	probes := []opshttp.Probe{
		opshttp.NATS(s.nc),
		{Name: "postgres", Check: s.pg.Ping},
		{Name: "redis", Check: func(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }},
	}
	if s.media != nil {
		probes = append(probes, opshttp.Probe{Name: "storage", Check: s.media.store.Ping})
	}
	ops := opshttp.Handler(s.metrics.registry, probes)
	for _, path := range []string{"GET /health", "GET /ready", "GET /metrics"} {
		mux.Handle(path, ops)
	}
	if s.static != nil {
		mux.Handle("/", s.static)
	}
	return mux
}

type sessionKey struct{}

// authed runs h only for an authenticated request.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.authenticate(r.Context(), r)
		if err != nil {
			s.fail(w, err)
			return
		}
		if e := checkRequest(r); e != nil {
			s.fail(w, e)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess)))
	}
}

func sessionOf(r *http.Request) session { return r.Context().Value(sessionKey{}).(session) }

// Bounds of REST requests.
const (
	maxBody            = 64 << 10              // a request body, in bytes
	maxDisplayName     = events.MaxDisplayName // code points
	maxRoomName        = events.MaxRoomName
	maxRoomDescription = events.MaxRoomDescription
)
