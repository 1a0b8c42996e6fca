package gateway

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events/ratelimit"
)

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults", check: func(t *testing.T, c Config) {
			if c.HTTPAddr != "127.0.0.1:8080" || c.PprofAddr != "" || c.Streams.Replicas != 1 || c.FrameRate != 50 || c.FrameBurst != 100 || c.SessionTTL != 24*time.Hour {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "environment", env: map[string]string{
			"CHILLIN_STREAM_REPLICAS": "3", "CHILLIN_WS_FRAME_RATE": "2000.5", "CHILLIN_WS_FRAME_BURST": "4000",
			"CHILLIN_ALLOWED_ORIGINS": "a.example, b.example", "CHILLIN_SECURE_COOKIES": "true", "CHILLIN_PPROF_ADDR": "127.0.0.1:6060",
		}, check: func(t *testing.T, c Config) {
			if c.Streams.Replicas != 3 || c.FrameRate != 2000.5 || c.FrameBurst != 4000 || !c.SecureCookies || c.PprofAddr != "127.0.0.1:6060" ||
				strings.Join(c.AllowedOrigins, "|") != "a.example|b.example" {
				t.Errorf("from env: %+v", c)
			}
		}},
		{name: "flags override the environment", env: map[string]string{"CHILLIN_STREAM_REPLICAS": "3", "CHILLIN_WS_FRAME_RATE": "7"},
			args: []string{"-stream-replicas", "1", "-ws-frame-rate", "9", "-ws-frame-burst", "11"},
			check: func(t *testing.T, c Config) {
				if c.Streams.Replicas != 1 || c.FrameRate != 9 || c.FrameBurst != 11 {
					t.Errorf("override: %+v", c)
				}
			}},
		{name: "rate limits", env: map[string]string{"CHILLIN_RATE_LIMITS": "typing=5/10s,room=2/1h"}, check: func(t *testing.T, c Config) {
			want := ratelimit.DefaultRules()
			want[ratelimit.Typing] = ratelimit.Rule{Limit: 5, Window: 10 * time.Second}
			want[ratelimit.RoomCreate] = ratelimit.Rule{Limit: 2, Window: time.Hour}
			if c.RateLimits.String() != want.String() {
				t.Errorf("rate limits %v, want %v", c.RateLimits, want)
			}
		}},
		{name: "bad rate limits", env: map[string]string{"CHILLIN_RATE_LIMITS": "typing=lots/10s"}, wantErr: "typing"},
		{name: "no media storage by default", check: func(t *testing.T, c Config) {
			if c.Storage.Enabled() || c.Storage.Bucket != "chillin" || c.UploadExpiry != 5*time.Minute {
				t.Errorf("storage %+v, upload expiry %v", c.Storage, c.UploadExpiry)
			}
		}},
		{name: "media storage", env: map[string]string{
			"CHILLIN_S3_ENDPOINT": "minio:9000", "CHILLIN_S3_ACCESS_KEY": "ak", "CHILLIN_S3_SECRET_KEY": "sk", "CHILLIN_S3_BUCKET": "media",
			"CHILLIN_S3_SECURE": "true", "CHILLIN_S3_REGION": "eu-west-1", "CHILLIN_S3_PUBLIC_URL": "https://media.example",
			"CHILLIN_UPLOAD_EXPIRY": "90s",
		}, check: func(t *testing.T, c Config) {
			s := c.Storage
			if s.Endpoint != "minio:9000" || s.AccessKey != "ak" || s.SecretKey != "sk" || s.Bucket != "media" || !s.Secure ||
				s.Region != "eu-west-1" || s.PublicURL != "https://media.example" || c.UploadExpiry != 90*time.Second {
				t.Errorf("storage %+v, upload expiry %v", s, c.UploadExpiry)
			}
		}},
		{name: "media storage without keys", env: map[string]string{"CHILLIN_S3_ENDPOINT": "minio:9000"}, wantErr: "access key"},
		{name: "public url without scheme", env: map[string]string{"CHILLIN_S3_ENDPOINT": "minio:9000", "CHILLIN_S3_ACCESS_KEY": "a",
			"CHILLIN_S3_SECRET_KEY": "s", "CHILLIN_S3_PUBLIC_URL": "media.example"}, wantErr: "public URL"},
		{name: "bad s3-secure", env: map[string]string{"CHILLIN_S3_SECURE": "1"}, wantErr: "s3-secure"},
		{name: "bad upload expiry", env: map[string]string{"CHILLIN_UPLOAD_EXPIRY": "soon"}, wantErr: "upload-expiry"},
		{name: "zero replicas", env: map[string]string{"CHILLIN_STREAM_REPLICAS": "0"}, wantErr: "stream-replicas"},
		{name: "replicas not a number", env: map[string]string{"CHILLIN_STREAM_REPLICAS": "three"}, wantErr: "stream-replicas"},
		{name: "negative frame rate", args: []string{"-ws-frame-rate", "-1"}, wantErr: "ws-frame-rate"},
		{name: "frame rate not a number", env: map[string]string{"CHILLIN_WS_FRAME_RATE": "NaN"}, wantErr: "ws-frame-rate"},
		{name: "zero burst", env: map[string]string{"CHILLIN_WS_FRAME_BURST": "0"}, wantErr: "ws-frame-burst"},
		{name: "bad cookie flag", env: map[string]string{"CHILLIN_SECURE_COOKIES": "yes"}, wantErr: "secure-cookies"},
		{name: "bad session ttl", env: map[string]string{"CHILLIN_SESSION_TTL": "a day"}, wantErr: "session-ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			build := Flags(fs, func(k string) string { return tc.env[k] })
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := build()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg)
		})
	}
}
