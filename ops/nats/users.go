package nats

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nats-server/v2/server"
)

// UsersOptions reads users.conf as cluster.conf includes it, with the
// passwords the environment gives, into a server's options (for tests that
// run the pinned server with the deployment's permissions). It writes the
// files it reads into dir.
func UsersOptions(dir string) (*server.Options, error) {
	if err := os.WriteFile(filepath.Join(dir, "users.conf"), Users, 0o644); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "server.conf")
	if err := os.WriteFile(conf, []byte("include ./users.conf\n"), 0o644); err != nil {
		return nil, err
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		return nil, fmt.Errorf("users.conf: %w", err)
	}
	return opts, nil
}
