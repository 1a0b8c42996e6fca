package events

// SameStream exposes sameStream to the external tests.
var SameStream = sameStream
