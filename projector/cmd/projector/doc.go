// Command projector runs Chillin's projection views (pg, live, cache) against
// CHAT_EVT. Run as many as you like: each view is applied by one of them at a
// time and the others stand by.
package main
