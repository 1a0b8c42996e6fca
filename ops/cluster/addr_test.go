package cluster

import (
	"errors"
	"slices"
	"testing"
)

func TestDistinctAddrs(t *testing.T) {
	// The probe hands out a port again, as the kernel may once its probe
	// closed; the picker must skip it.
	probes := []string{"127.0.0.1:4001", "127.0.0.1:4001", "127.0.0.1:4002", "127.0.0.1:4001", "127.0.0.1:4003"}
	next := distinctAddrs("127.0.0.1", func(host string) (string, error) {
		if host != "127.0.0.1" {
			t.Fatalf("probed host %q", host)
		}
		a := probes[0]
		probes = probes[1:]
		return a, nil
	})
	var got []string
	for range 3 {
		a, err := next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	if want := []string{"127.0.0.1:4001", "127.0.0.1:4002", "127.0.0.1:4003"}; !slices.Equal(got, want) {
		t.Fatalf("picked %v, want %v", got, want)
	}

	same := distinctAddrs("127.0.0.1", func(string) (string, error) { return "127.0.0.1:4001", nil })
	if _, err := same(); err != nil {
		t.Fatal(err)
	}
	if _, err := same(); err == nil {
		t.Fatal("a probe that only ever finds a port already given out must end in an error")
	}
	failing := distinctAddrs("127.0.0.1", func(string) (string, error) { return "", errors.New("no ports") })
	if _, err := failing(); err == nil {
		t.Fatal("a failed probe must be an error")
	}
}
