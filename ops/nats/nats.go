// Package nats holds the NATS server configuration files of Chillin's
// deployments: local.conf, a node of the local cluster's three JetStream
// servers (ops/cluster fills in its variables), and cluster.conf, a node of
// the three-node JetStream cluster of compose.yml, which includes users.conf:
// a user per service, each with the subjects it may publish and subscribe
// to. Both take sync_interval from NATS_SYNC_INTERVAL: "always", the
// default, syncs every write before it is acknowledged.
//
// It holds text, and reads users.conf into a server's options for tests
// (UsersOptions); it never starts a server.
package nats

import (
	_ "embed"
	"strings"
)

// Local is local.conf. It reads NATS_SERVER_NAME, NATS_HOST, NATS_PORT,
// NATS_HTTP_PORT, NATS_CLUSTER_PORT, NATS_ROUTES (see Routes),
// NATS_STORE_DIR and NATS_SYNC_INTERVAL from the environment.
//
//go:embed local.conf
var Local []byte

// Cluster is cluster.conf. It reads NATS_SERVER_NAME and NATS_SYNC_INTERVAL,
// and includes users.conf from its own folder.
//
//go:embed cluster.conf
var Cluster []byte

// Users is users.conf: the users gateway, validator, projector and admin,
// whose passwords it reads from NATS_GATEWAY_PASSWORD,
// NATS_VALIDATOR_PASSWORD, NATS_PROJECTOR_PASSWORD and NATS_ADMIN_PASSWORD.
//
//go:embed users.conf
var Users []byte

// SyncInterval is NATS_SYNC_INTERVAL for a durability mode: synced writes
// are synced before they are acknowledged; otherwise every two minutes
// (NATS's default interval).
func SyncInterval(synced bool) string {
	if synced {
		return "always"
	}
	return "2m0s"
}

// Routes is NATS_ROUTES for nodes whose cluster ports listen at addrs
// (host:port): a configuration array of their route URLs. A node's own
// address among them is fine; the server skips it.
func Routes(addrs []string) string {
	urls := make([]string, len(addrs))
	for i, a := range addrs {
		urls[i] = "nats-route://" + a
	}
	return "[" + strings.Join(urls, ", ") + "]"
}
