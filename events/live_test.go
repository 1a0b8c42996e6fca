package events

import (
	"bytes"
	"testing"
)

func TestLiveRoomRoundTrip(t *testing.T) {
	frame := []byte(`{"type":"event","data":{"seq":12}}`)
	seq, got, err := DecodeLiveRoom(EncodeLiveRoom(12, frame))
	if err != nil || seq != 12 || !bytes.Equal(got, frame) {
		t.Fatalf("got %d %s %v", seq, got, err)
	}
	for _, bad := range []string{"", " {}", "x {}", "0 {}", "12"} {
		if _, _, err := DecodeLiveRoom([]byte(bad)); err == nil {
			t.Errorf("DecodeLiveRoom(%q) accepted", bad)
		}
	}
}
