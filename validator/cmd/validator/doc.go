// Command validator runs one Chillin validator instance: it decides the
// commands on CHAT_CMD and appends the facts to CHAT_EVT. See the README of
// the validator module for its environment and flags.
package main
