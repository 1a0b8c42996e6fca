package cachelayout

import "strconv"

// DefaultWindow is how many of a room's newest messages the cache holds.
const DefaultWindow = 100

// Keys names the cache's Redis keys under a deployment prefix (see the
// package documentation for what each holds).
type Keys struct {
	Prefix string // the deployment's key prefix, e.g. "chillin:"
}

// Root is the start of every cache key.
func (k Keys) Root() string { return k.Prefix + "cache:" }

// Current names the current generation.
func (k Keys) Current() string { return k.Root() + "gen" }

// Counter is the last generation number handed out.
func (k Keys) Counter() string { return k.Root() + "gens" }

// Lease is held by the projector rebuilding a lost cache.
func (k Keys) Lease() string { return k.Root() + "lease" }

// Gen is the start of every key of generation g.
func (k Keys) Gen(g uint64) string { return k.Root() + strconv.FormatUint(g, 10) + ":" }

// Meta holds generation g's checkpoint and window.
func (k Keys) Meta(g uint64) string { return k.Gen(g) + "meta" }

// Rooms is generation g's room list.
func (k Keys) Rooms(g uint64) string { return k.Gen(g) + "rooms" }

// Room is a room's entry.
func (k Keys) Room(g uint64, room string) string { return k.Gen(g) + "room:" + room }

// Members is a room's member set.
func (k Keys) Members(g uint64, room string) string { return k.Gen(g) + "mem:" + room }

// Window is a room's newest message ids.
func (k Keys) Window(g uint64, room string) string { return k.Gen(g) + "msgs:" + room }

// Message is one message.
func (k Keys) Message(g uint64, id uint64) string {
	return k.Gen(g) + "m:" + strconv.FormatUint(id, 10)
}
