package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chillin-chat/chillin/events"
)

func TestCheckFrame(t *testing.T) {
	long := strings.Repeat("a", 5000)
	for _, tc := range []struct {
		name, typ, data string
		code            string // "" when the frame passes
		field           string // the field the message names
	}{
		{"join", "room:join", `{"room":"general"}`, "", ""},
		{"join with after and password", "room:join", `{"room":"general","after":12,"password":"pw"}`, "", ""},
		{"join without data", "room:join", ``, events.CodeBadFrame, "data"},
		{"join with null data", "room:join", `null`, events.CodeBadFrame, "data"},
		{"join without room", "room:join", `{}`, events.CodeBadFrame, "room"},
		{"join with a huge room", "room:join", `{"room":"` + long + `"}`, events.CodeInvalidRoom, "room"},
		{"leave with a huge room", "room:leave", `{"room":"` + long + `"}`, events.CodeInvalidRoom, "room"},
		{"leave with a space", "room:leave", `{"room":"a b"}`, events.CodeInvalidRoom, "room"},
		{"leave with a wildcard", "room:leave", `{"room":"a.>"}`, events.CodeInvalidRoom, "room"},
		{"leave with upper case", "room:leave", `{"room":"General"}`, events.CodeInvalidRoom, "room"},
		{"room of 64", "room:leave", `{"room":"` + strings.Repeat("a", 64) + `"}`, "", ""},
		{"room of 65", "room:leave", `{"room":"` + strings.Repeat("a", 65) + `"}`, events.CodeInvalidRoom, "room"},
		{"room not a string", "room:leave", `{"room":5}`, events.CodeBadFrame, "room"},
		{"data an array", "room:leave", `["general"]`, events.CodeBadFrame, "data"},
		{"deep JSON", "room:leave", strings.Repeat("[", 5000) + strings.Repeat("]", 5000), events.CodeBadFrame, "data"},
		{"huge password", "room:join", `{"room":"a","password":"` + strings.Repeat("p", 257) + `"}`, events.CodeBadFrame, "password"},
		{"sync", "room:sync", `{"room":"a","after":0,"limit":500}`, "", ""},
		{"sync without after", "room:sync", `{"room":"a"}`, events.CodeBadFrame, "after"},
		{"sync negative after", "room:sync", `{"room":"a","after":-1}`, events.CodeBadFrame, "after"},
		{"sync negative limit", "room:sync", `{"room":"a","after":0,"limit":-1}`, events.CodeBadFrame, "limit"},
		{"sync huge limit", "room:sync", `{"room":"a","after":0,"limit":1e12}`, events.CodeBadFrame, "limit"},
		{"send", "message:send", `{"room":"a","clientId":"0b9e-4c1d","text":"hi"}`, "", ""},
		{"send uuid clientId", "message:send", `{"room":"a","clientId":"1b4e28ba-2fa1-11d2-883f-0016d3cca427","text":"hi"}`, "", ""},
		{"send without clientId", "message:send", `{"room":"a","text":"hi"}`, events.CodeBadFrame, "clientId"},
		{"send empty clientId", "message:send", `{"room":"a","clientId":"","text":"hi"}`, events.CodeBadFrame, "clientId"},
		{"send long clientId", "message:send", `{"room":"a","clientId":"` + strings.Repeat("c", 65) + `","text":"hi"}`, events.CodeBadFrame, "clientId"},
		{"send clientId with a space", "message:send", `{"room":"a","clientId":"a b","text":"hi"}`, events.CodeBadFrame, "clientId"},
		{"send clientId with a NUL", "message:send", `{"room":"a","clientId":"a\u0000","text":"hi"}`, events.CodeBadFrame, "clientId"},
		{"send without text", "message:send", `{"room":"a","clientId":"c"}`, events.CodeBadFrame, "text"},
		{"send 11 attachments", "message:send", `{"room":"a","clientId":"c","text":"","attachments":[` + strings.TrimSuffix(strings.Repeat(`{"key":"k"},`, 11), ",") + `]}`, events.CodeBadFrame, "attachments"},
		{"send huge attachment key", "message:send", `{"room":"a","clientId":"c","text":"","attachments":[{"key":"` + strings.Repeat("k", 300) + `"}]}`, events.CodeBadFrame, "attachments[0]"},
		{"send huge replyTo", "message:send", `{"room":"a","clientId":"c","text":"x","replyTo":9007199254740992}`, events.CodeBadFrame, "replyTo"},
		{"edit", "message:edit", `{"room":"a","id":7,"text":"x"}`, "", ""},
		{"edit id 0", "message:edit", `{"room":"a","id":0,"text":"x"}`, events.CodeBadFrame, "id"},
		{"edit id a string", "message:edit", `{"room":"a","id":"7","text":"x"}`, events.CodeBadFrame, "id"},
		{"edit id a fraction", "message:edit", `{"room":"a","id":1.5,"text":"x"}`, events.CodeBadFrame, "id"},
		{"delete without id", "message:delete", `{"room":"a"}`, events.CodeBadFrame, "id"},
		{"reaction", "reaction:add", `{"room":"a","id":1,"emoji":"👍"}`, "", ""},
		{"reaction empty emoji", "reaction:add", `{"room":"a","id":1,"emoji":""}`, events.CodeBadFrame, "emoji"},
		{"reaction huge emoji", "reaction:remove", `{"room":"a","id":1,"emoji":"` + long + `"}`, events.CodeBadFrame, "emoji"},
		{"heartbeat without data", "heartbeat", ``, "", ""},
		{"heartbeat", "heartbeat", `{"t":1733500000000}`, "", ""},
		{"heartbeat huge echo", "heartbeat", `{"t":"` + long + `"}`, events.CodeBadFrame, "t"},
		{"typing", "typing:start", `{"room":"a"}`, "", ""},
		{"typing bad room", "typing:stop", `{"room":"../x"}`, events.CodeInvalidRoom, "room"},
		{"presence", "presence:set", `{"status":"away"}`, "", ""},
		{"presence unknown status", "presence:set", `{"status":"gone"}`, events.CodeBadFrame, "status"},
		{"unknown fields are ignored", "room:leave", `{"room":"a","future":{"x":1}}`, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := checkFrame(tc.typ, json.RawMessage(tc.data))
			if tc.code == "" {
				if e != nil {
					t.Fatalf("refused: %v", e)
				}
				return
			}
			if e == nil {
				t.Fatalf("passed, want %s", tc.code)
			}
			if e.Code != tc.code || !strings.HasPrefix(e.Message, tc.field+":") {
				t.Fatalf("got %v, want %s naming %q", e, tc.code, tc.field)
			}
			if len(e.Message) > 200 {
				t.Fatalf("message of %d bytes echoes the client's value", len(e.Message))
			}
		})
	}
}

func TestCheckRef(t *testing.T) {
	if e := checkRef("r12"); e != nil {
		t.Fatalf("short ref refused: %v", e)
	}
	if e := checkRef(strings.Repeat("r", maxRefLen+1)); e == nil || e.Code != events.CodeBadFrame {
		t.Fatalf("long ref: %v, want BAD_FRAME", e)
	}
}

// Every frame type the gateway serves has its fields declared, so none
// bypasses checkFrame's required fields.
func TestFrameSpecsCoverHandlers(t *testing.T) {
	for typ := range frameHandlers {
		required, ok := frameRequired[typ]
		if !ok {
			t.Errorf("frame type %q has no entry in frameRequired", typ)
		}
		var f frameFields
		for _, name := range required {
			f.has(name) // panics on a field it does not know
		}
	}
}

// Every frame that acts in a room goes through the socket's membership
// check; the frames that change membership, and those that name no room,
// do not.
func TestRoomScopedFrames(t *testing.T) {
	scoped := map[string]bool{
		"room:sync": true, "message:send": true, "message:edit": true, "message:delete": true,
		"reaction:add": true, "reaction:remove": true, "typing:start": true, "typing:stop": true, "room:read": true,
	}
	for typ := range frameHandlers {
		if roomScoped(typ) != scoped[typ] {
			t.Errorf("roomScoped(%q) = %v, want %v", typ, roomScoped(typ), scoped[typ])
		}
	}
}

func TestCheckRequest(t *testing.T) {
	mux := http.NewServeMux()
	var got *events.Error
	for _, pattern := range []string{"GET /api/rooms", "GET /api/rooms/{room}/messages"} {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { got = checkRequest(r) })
	}
	for _, tc := range []struct{ target, code string }{
		{"/api/rooms", ""},
		{"/api/rooms?q=caf%C3%A9&limit=1000&cursor=general", ""},
		{"/api/rooms?cursor=some_user", ""},
		{"/api/rooms/general/messages?before=12&limit=50", ""},
		{"/api/rooms/Gen%20eral/messages", events.CodeInvalidRoom},
		{"/api/rooms/" + strings.Repeat("a", 65) + "/messages", events.CodeInvalidRoom},
		{"/api/rooms?limit=0", events.CodeBadRequest},
		{"/api/rooms?limit=1001", events.CodeBadRequest},
		{"/api/rooms?limit=ten", events.CodeBadRequest},
		{"/api/rooms?limit=1&limit=2", events.CodeBadRequest},
		{"/api/rooms/general/messages?before=0", events.CodeBadRequest},
		{"/api/rooms?cursor=" + strings.Repeat("a", 65), events.CodeBadRequest},
		{"/api/rooms?cursor=a.b", events.CodeBadRequest},
		{"/api/rooms?q=" + strings.Repeat("q", 101), events.CodeBadRequest},
		{"/api/rooms?q=%E2%80%AE", events.CodeBadRequest},
		{"/api/rooms?q=%FF", events.CodeBadRequest},
	} {
		got = nil
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", tc.target, nil))
		switch {
		case tc.code == "" && got != nil:
			t.Errorf("%s refused: %v", tc.target, got)
		case tc.code != "" && (got == nil || got.Code != tc.code):
			t.Errorf("%s: %v, want %s", tc.target, got, tc.code)
		}
	}
}

// The cost checkFrame adds to a message:send, on top of the handler's own
// decoding.
func BenchmarkCheckFrame(b *testing.B) {
	data := json.RawMessage(`{"room":"general","clientId":"1b4e28ba-2fa1-11d2-883f-0016d3cca427","text":"` + strings.Repeat("hello ", 40) + `"}`)
	b.ReportAllocs()
	for b.Loop() {
		if e := checkFrame("message:send", data); e != nil {
			b.Fatal(e)
		}
	}
}

// A room id outside the grammar never reaches a subject, whatever path
// builds the command.
func TestAppendCommandRefusesABadRoom(t *testing.T) {
	s := &Server{} // no NATS: the check comes before any publish
	for _, room := range []string{"", "a b", "a.>", strings.Repeat("a", 5000)} {
		err := s.appendCommand(t.Context(), events.Command{ID: "c1", Type: events.CmdRoomLeave, Room: room})
		var e *events.Error
		if !errors.As(err, &e) || e.Code != events.CodeInvalidRoom {
			t.Fatalf("room %.10q: %v, want INVALID_ROOM", room, err)
		}
	}
}
