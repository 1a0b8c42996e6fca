// Package projtest is shared test support for the projector's packages: a
// realistic fact sequence with the tables it must produce, a burst generator,
// publishing to CHAT_EVT, a canonical dump of the pg view's tables, a TCP
// proxy that a test can cut and restore, and a logger tests can read.
//
// It is imported by tests only. Everything it starts is stopped by t.Cleanup.
package projtest
