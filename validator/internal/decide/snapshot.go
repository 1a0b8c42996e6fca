package decide

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// snapshotVersion is the first byte of a snapshot. A snapshot of another
// version is refused, and the room folded from the log instead. Version 2
// keeps the newest digests only, archivedThrough and the filter of the
// dropped digests, and nothing of the messages older than the window: a
// version 1 snapshot holds every digest, the ids of the deleted old
// messages and their reactions, which a room now drops.
const snapshotVersion = 2

// Snapshot encodes the room state, all of it, so that RestoreRoom gives back
// a state that decides and folds exactly as this one does. The encoding is
// deterministic: maps are written in key order.
func (r *Room) Snapshot() []byte {
	b := make([]byte, 0, 256+r.Size()/2)
	b = append(b, snapshotVersion)
	b = appendString(b, r.ID)
	b = appendBool(b, r.Exists)
	b = appendString(b, r.Name)
	b = appendBool(b, r.IsPrivate)
	b = appendString(b, r.PasswordHash)
	b = appendString(b, r.LegacySHA256)
	b = binary.AppendUvarint(b, r.Head)
	b = binary.AppendUvarint(b, r.LastID)
	b = binary.AppendUvarint(b, uint64(r.window))
	b = binary.AppendUvarint(b, r.floor)
	b = binary.AppendUvarint(b, uint64(r.digests))
	b = binary.AppendUvarint(b, r.archivedThrough)
	if r.archivedThrough > 0 {
		b = appendFilter(b, r.archived)
	}

	members := slices.Sorted(maps.Keys(r.Members))
	b = binary.AppendUvarint(b, uint64(len(members)))
	for _, m := range members {
		b = appendString(b, m)
	}
	b = binary.AppendUvarint(b, uint64(len(r.authors)))
	for _, a := range r.authors {
		b = appendString(b, a)
	}
	// The window, oldest first: messages holds exactly these ids.
	b = binary.AppendUvarint(b, uint64(r.order.len()))
	for _, w := range r.order.items[r.order.head:] {
		m := r.messages[w.id]
		b = binary.AppendUvarint(b, w.id)
		b = binary.AppendUvarint(b, uint64(m.author))
		b = appendBool(b, m.deleted)
	}
	reacted := slices.Sorted(maps.Keys(r.reactions))
	b = binary.AppendUvarint(b, uint64(len(reacted)))
	for _, id := range reacted {
		rs := slices.SortedFunc(maps.Keys(r.reactions[id]), func(x, y Reaction) int {
			return cmp.Or(cmp.Compare(x.User, y.User), cmp.Compare(x.Emoji, y.Emoji))
		})
		b = binary.AppendUvarint(b, id)
		b = binary.AppendUvarint(b, uint64(len(rs)))
		for _, rc := range rs {
			b = appendString(b, rc.User)
			b = appendString(b, rc.Emoji)
		}
	}
	// The digests, oldest first: posted holds exactly these.
	b = binary.AppendUvarint(b, uint64(r.postedOrder.len()))
	for _, d := range r.postedOrder.items[r.postedOrder.head:] {
		b = append(b, d[:]...)
		b = binary.AppendUvarint(b, r.posted[d])
	}
	// The recent commands, oldest first: recent holds exactly these.
	b = binary.AppendUvarint(b, uint64(r.ring.len()))
	for _, c := range r.ring.items[r.ring.head:] {
		b = append(b, c.id[:]...)
		b = binary.AppendVarint(b, c.at)
	}
	return b
}

// RestoreRoom decodes a snapshot of room id taken with a message window of
// window. The digest window is the snapshot's: the caller may set another
// (SetDigestWindow). A snapshot of another room or window, of another version, or
// damaged, is an error: the caller folds the room from the log instead.
func RestoreRoom(id string, window int, snap []byte) (*Room, error) {
	d := decoder{b: snap}
	if v := d.byte(); v != snapshotVersion {
		return nil, fmt.Errorf("room snapshot version %d, want %d", v, snapshotVersion)
	}
	r := NewRoom(d.string())
	r.Exists = d.bool()
	r.Name = d.string()
	r.IsPrivate = d.bool()
	r.PasswordHash = d.string()
	r.LegacySHA256 = d.string()
	r.Head, r.LastID = d.uvarint(), d.uvarint()
	r.window = int(d.uvarint())
	r.floor = d.uvarint()
	r.digests = int(min(d.uvarint(), 1<<31))
	r.archivedThrough = d.uvarint()
	if r.archivedThrough > 0 {
		r.archived = d.filter()
	}
	if d.err == nil && (r.ID != id || r.window != max(window, 1)) {
		return nil, fmt.Errorf("snapshot of room %q with window %d, want room %q with window %d", r.ID, r.window, id, window)
	}
	for range d.count() {
		r.Members[d.string()] = struct{}{}
	}
	for range d.count() {
		r.author(d.string())
	}
	for range d.count() {
		id, author, deleted := d.uvarint(), d.uvarint(), d.bool()
		if author >= uint64(len(r.authors)) {
			d.fail(errors.New("message author out of range"))
			break
		}
		r.messages[id] = message{author: uint32(author), deleted: deleted}
		r.order.push(windowed{id: id})
	}
	for range d.count() {
		id := d.uvarint()
		if _, ok := r.messages[id]; !ok && d.err == nil {
			d.fail(errors.New("reactions of a message outside the window"))
			break
		}
		for range d.count() {
			r.react(id, Reaction{User: d.string(), Emoji: d.string()}, true)
		}
	}
	for range d.count() {
		dg, id := d.digest(), d.uvarint()
		if _, dup := r.posted[dg]; dup {
			d.fail(errors.New("digest held twice"))
			break
		}
		r.posted[dg] = id
		r.postedOrder.push(dg)
	}
	if d.err == nil && (r.digests < 1 || r.postedOrder.len() > r.digests) {
		d.fail(fmt.Errorf("%d digests held in a window of %d", r.postedOrder.len(), r.digests))
	}
	for range d.count() {
		c := command{id: d.digest(), at: d.varint()}
		r.ring.push(c)
		r.recent[c.id] = struct{}{}
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail(errors.New("trailing bytes"))
	}
	if d.err != nil {
		return nil, fmt.Errorf("room snapshot of %s: %w", id, d.err)
	}
	return r, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// decoder reads a snapshot; after the first error every read returns a
// zero value and counts are 0, so a loop over a damaged snapshot ends.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("snapshot ends early")

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail(errShort)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bool() bool { return d.byte() == 1 }

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a number of items that follow, each at least one byte: a
// count larger than the bytes left is damage, not a reason to loop.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errShort)
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.count()
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// appendFilter writes the words of f that have a bit set, each after the
// count of zero words before it: a filter of few digests takes few bytes.
func appendFilter(b []byte, f filter) []byte {
	n := 0
	for _, w := range f {
		if w != 0 {
			n++
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	gap := uint64(0)
	for _, w := range f {
		if w == 0 {
			gap++
			continue
		}
		b = binary.AppendUvarint(b, gap)
		b = binary.LittleEndian.AppendUint64(b, w)
		gap = 0
	}
	return b
}

func (d *decoder) filter() filter {
	f := make(filter, filterWords)
	next := uint64(0)
	for range d.count() {
		i := next + d.uvarint()
		if len(d.b) < 8 || i >= filterWords {
			d.fail(errors.New("archive filter damaged"))
			return nil
		}
		f[i] = binary.LittleEndian.Uint64(d.b)
		d.b = d.b[8:]
		next = i + 1
	}
	return f
}

func (d *decoder) digest() digest {
	var dg digest
	if len(d.b) < len(dg) {
		d.fail(errShort)
		return dg
	}
	copy(dg[:], d.b)
	d.b = d.b[len(dg):]
	return dg
}
