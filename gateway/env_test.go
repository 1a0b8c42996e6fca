package gateway

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events/envflag/envflagtest"
	"github.com/chillin-chat/chillin/events/ratelimit"
)

func TestFlags(t *testing.T) {
	parse := func(getenv func(string) string, args []string) (Config, error) {
		fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		build := Flags(fs, getenv)
		if err := fs.Parse(args); err != nil {
			return Config{}, fmt.Errorf("parse: %w", err)
		}
		return build()
	}
	envflagtest.Run(t, parse, []envflagtest.Case[Config]{
		{Name: "defaults", Check: func(t *testing.T, c Config) {
			if c.HTTPAddr != "127.0.0.1:8080" || c.PprofAddr != "" || c.Streams.Replicas != 1 || c.FrameRate != 50 || c.FrameBurst != 100 || c.SessionTTL != 24*time.Hour {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{Name: "environment", Env: map[string]string{
			"CHILLIN_STREAM_REPLICAS": "3", "CHILLIN_WS_FRAME_RATE": "2000.5", "CHILLIN_WS_FRAME_BURST": "4000",
			"CHILLIN_ALLOWED_ORIGINS": "a.example, b.example", "CHILLIN_SECURE_COOKIES": "true", "CHILLIN_PPROF_ADDR": "127.0.0.1:6060",
		}, Check: func(t *testing.T, c Config) {
			if c.Streams.Replicas != 3 || c.FrameRate != 2000.5 || c.FrameBurst != 4000 || !c.SecureCookies || c.PprofAddr != "127.0.0.1:6060" ||
				strings.Join(c.AllowedOrigins, "|") != "a.example|b.example" {
				t.Errorf("from env: %+v", c)
			}
		}},
		{Name: "flags override the environment", Env: map[string]string{"CHILLIN_STREAM_REPLICAS": "3", "CHILLIN_WS_FRAME_RATE": "7"},
			Args: []string{"-stream-replicas", "1", "-ws-frame-rate", "9", "-ws-frame-burst", "11"},
			Check: func(t *testing.T, c Config) {
				if c.Streams.Replicas != 1 || c.FrameRate != 9 || c.FrameBurst != 11 {
					t.Errorf("override: %+v", c)
				}
			}},
		{Name: "rate limits", Env: map[string]string{"CHILLIN_RATE_LIMITS": "typing=5/10s,room=2/1h"}, Check: func(t *testing.T, c Config) {
			want := ratelimit.DefaultRules()
			want[ratelimit.Typing] = ratelimit.Rule{Limit: 5, Window: 10 * time.Second}
			want[ratelimit.RoomCreate] = ratelimit.Rule{Limit: 2, Window: time.Hour}
			if c.RateLimits.String() != want.String() {
				t.Errorf("rate limits %v, want %v", c.RateLimits, want)
			}
		}},
		{Name: "bad rate limits", Env: map[string]string{"CHILLIN_RATE_LIMITS": "typing=lots/10s"}, WantErr: "typing"},
		{Name: "no media storage by default", Check: func(t *testing.T, c Config) {
			if c.Storage.Enabled() || c.Storage.Bucket != "chillin" || c.UploadExpiry != 5*time.Minute {
				t.Errorf("storage %+v, upload expiry %v", c.Storage, c.UploadExpiry)
			}
		}},
		{Name: "media storage", Env: map[string]string{
			"CHILLIN_S3_ENDPOINT": "minio:9000", "CHILLIN_S3_ACCESS_KEY": "ak", "CHILLIN_S3_SECRET_KEY": "sk", "CHILLIN_S3_BUCKET": "media",
			"CHILLIN_S3_SECURE": "true", "CHILLIN_S3_REGION": "eu-west-1", "CHILLIN_S3_PUBLIC_URL": "https://media.example",
			"CHILLIN_UPLOAD_EXPIRY": "90s",
		}, Check: func(t *testing.T, c Config) {
			s := c.Storage
			if s.Endpoint != "minio:9000" || s.AccessKey != "ak" || s.SecretKey != "sk" || s.Bucket != "media" || !s.Secure ||
				s.Region != "eu-west-1" || s.PublicURL != "https://media.example" || c.UploadExpiry != 90*time.Second {
				t.Errorf("storage %+v, upload expiry %v", s, c.UploadExpiry)
			}
		}},
		{Name: "media storage without keys", Env: map[string]string{"CHILLIN_S3_ENDPOINT": "minio:9000"}, WantErr: "access key"},
		{Name: "public url without scheme", Env: map[string]string{"CHILLIN_S3_ENDPOINT": "minio:9000", "CHILLIN_S3_ACCESS_KEY": "a",
			"CHILLIN_S3_SECRET_KEY": "s", "CHILLIN_S3_PUBLIC_URL": "media.example"}, WantErr: "public URL"},
		{Name: "bad s3-secure", Env: map[string]string{"CHILLIN_S3_SECURE": "1"}, WantErr: "s3-secure"},
		{Name: "bad upload expiry", Env: map[string]string{"CHILLIN_UPLOAD_EXPIRY": "soon"}, WantErr: "upload-expiry"},
		{Name: "zero replicas", Env: map[string]string{"CHILLIN_STREAM_REPLICAS": "0"}, WantErr: "stream-replicas"},
		{Name: "replicas not a number", Env: map[string]string{"CHILLIN_STREAM_REPLICAS": "three"}, WantErr: "stream-replicas"},
		{Name: "negative frame rate", Args: []string{"-ws-frame-rate", "-1"}, WantErr: "ws-frame-rate"},
		{Name: "frame rate not a number", Env: map[string]string{"CHILLIN_WS_FRAME_RATE": "NaN"}, WantErr: "ws-frame-rate"},
		{Name: "zero burst", Env: map[string]string{"CHILLIN_WS_FRAME_BURST": "0"}, WantErr: "ws-frame-burst"},
		{Name: "bad cookie flag", Env: map[string]string{"CHILLIN_SECURE_COOKIES": "yes"}, WantErr: "secure-cookies"},
		{Name: "bad session ttl", Env: map[string]string{"CHILLIN_SESSION_TTL": "a day"}, WantErr: "session-ttl"},
	})
}
