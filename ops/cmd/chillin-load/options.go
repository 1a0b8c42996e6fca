package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// options are one run's flags (main.go).
type options struct {
	URL, MetricsURL   string
	LagURL, LagView   string
	AuthURL, PprofURL string
	Clients, Users    int
	Rooms, Senders    int
	Rate              float64
	Duration, Drain   time.Duration
	Heartbeat         time.Duration
	SourceIPs, Size   int
	Concurrency       int
	Prefix            string
	JSON              bool
}

func (o *options) validate() error {
	if o.Users == 0 {
		o.Users = o.Clients
	}
	if o.Senders == 0 {
		o.Senders = o.Clients
	}
	if o.MetricsURL == "" {
		o.MetricsURL = strings.TrimRight(o.URL, "/") + "/metrics"
	}
	if o.AuthURL == "" {
		o.AuthURL = o.URL
	}
	if o.LagURL == "" {
		o.LagURL = o.MetricsURL
	}
	if o.Prefix == "" {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		o.Prefix = "load" + hex.EncodeToString(b)
	}
	switch {
	case o.Clients < 1 || o.Rooms < 1 || o.Users < 1:
		return errors.New("clients, users and rooms must be at least 1")
	case o.Users > o.Clients || o.Senders > o.Clients:
		return errors.New("users and senders are at most clients")
	case o.Rate < 0 || o.Duration <= 0:
		return errors.New("rate must be >= 0 and duration > 0")
	case o.Heartbeat < 0:
		return errors.New("heartbeat must be >= 0")
	case o.SourceIPs < 1 || o.SourceIPs > 250:
		return errors.New("source-ips is 1 to 250")
	case o.Size < 24 || o.Size > 2000:
		return errors.New("size is 24 to 2000 bytes")
	}
	return nil
}
