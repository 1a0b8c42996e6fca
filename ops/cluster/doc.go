// Package cluster runs a whole Chillin deployment on one machine as separate
// processes, the way production runs it: a JetStream cluster of three NATS
// servers (the nats-server the ops module pins; nats-1…nats-3, routed to
// each other, each with its own store under Dir/nats), whose streams are
// replicated on all three (R3, so a write is acknowledged once two nodes
// hold it); several gateways, validators and projectors (their real
// binaries), each given every node's URL so that it fails over; and nginx in
// front of the gateways with ip_hash stickiness and passive health checks.
// Every process listens on a free loopback port; each writes its output to
// its own log file.
//
// ops/cmd/chillin-cluster is its command-line front (make cluster); the tests
// beside this file use it to check failover of gateways and of NATS nodes
// (a stream leader killed, a node frozen, every node killed at once),
// graceful shutdown, work shared by several instances, and the metrics
// endpoints.
//
// It owns the child processes it starts: it starts them in dependency order
// and waits until each is ready, reports a process that exits without being
// asked to (Exits) and never restarts one by itself (a caller may, with
// Proc.Start, after a fault injected with Proc.Signal or Proc.Pause), and
// stops them all in the order that loses nothing (Stop). Children run in their own process
// group, so a terminal's Ctrl-C reaches the runner only, and get SIGTERM if
// the runner dies.
//
// Concurrency: a Cluster's methods may be called from several goroutines;
// each Proc guards its own state.
package cluster
