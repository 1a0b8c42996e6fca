// Package nats holds the NATS server configuration files of Chillin's
// deployments: single.conf, the one JetStream server of the local cluster
// (ops/cluster fills in its variables), and cluster.conf, a node of the
// three-node JetStream cluster of compose.yml, which includes users.conf:
// a user per service, each with the subjects it may publish and subscribe
// to. Both take sync_interval from NATS_SYNC_INTERVAL: "always", the
// default, syncs every write before it is acknowledged.
//
// It holds text, and reads users.conf into a server's options for tests
// (UsersOptions); it never starts a server.
package nats

import _ "embed"

// Single is single.conf. It reads NATS_SERVER_NAME, NATS_HOST, NATS_PORT,
// NATS_HTTP_PORT, NATS_STORE_DIR and NATS_SYNC_INTERVAL from the environment.
//
//go:embed single.conf
var Single []byte

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
