package cachewriter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/cachelayout"
)

// maxOps bounds the ops one apply script carries, so that a script stays
// short (Redis serves nothing else while it runs) and its arguments small.
const maxOps = 500

// Status is how an apply went.
type Status int

const (
	// Applied: every fact of the run after the checkpoint was applied and
	// the checkpoint moved to the run's end (or already was there).
	Applied Status = iota
	// Gap: the run starts beyond checkpoint+1, so facts before it are
	// missing; nothing was applied. Result.Checkpoint says where to resume.
	Gap
	// Absent: the generation does not exist or lost its checkpoint.
	Absent
)

func (s Status) String() string {
	switch s {
	case Applied:
		return "applied"
	case Gap:
		return "gap"
	case Absent:
		return "absent"
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Result is the outcome of Store.Apply.
type Result struct {
	Status     Status
	Gen        uint64 // the generation applied to (0 if none)
	Checkpoint uint64 // its checkpoint afterwards
}

// Store reads and writes the cache generations of one deployment.
type Store struct {
	rdb    *redis.Client
	keys   cachelayout.Keys
	window int
}

// NewStore returns a Store under prefix. window is the N of new
// generations (cachelayout.DefaultWindow if 0 or less).
func NewStore(rdb *redis.Client, prefix string, window int) *Store {
	if window <= 0 {
		window = cachelayout.DefaultWindow
	}
	return &Store{rdb: rdb, keys: cachelayout.Keys{Prefix: prefix}, window: window}
}

// Keys names this Store's keys.
func (s *Store) Keys() cachelayout.Keys { return s.keys }

// Window is the N of the generations this Store creates.
func (s *Store) Window() int { return s.window }

// Apply applies facts covering the stream seqs from..to (every room fact of
// that range, in stream order; other facts may be left out, they change
// nothing) to generation gen, or to the current generation if gen is 0.
// Facts at or below the generation's checkpoint are skipped. A long run is
// applied in several scripts, each checking the checkpoint again.
//
// Facts that cannot be read are skipped and returned, so the caller can log
// them; they count as applied.
func (s *Store) Apply(ctx context.Context, gen, from, to uint64, facts []events.Stored) (Result, []Skip, error) {
	if from == 0 || to < from {
		return Result{}, nil, fmt.Errorf("apply: bad range %d..%d", from, to)
	}
	for i, f := range facts {
		if f.ID < from || f.ID > to || (i > 0 && f.ID <= facts[i-1].ID) {
			return Result{}, nil, fmt.Errorf("apply %d..%d: fact %d out of range or order", from, to, f.ID)
		}
	}
	p := MakePlan(facts)
	var res Result
	for start, op := from, 0; ; {
		n := min(p.Ops-op, maxOps)
		end := to
		if op+n < p.Ops {
			// The next script starts at the next op's fact.
			next, _ := strconv.ParseUint(p.Args[(op+n)*cachelayout.OpFields+1].(string), 10, 64)
			end = next - 1
		}
		var err error
		res, err = s.applyRun(ctx, gen, start, end, p.Args[op*cachelayout.OpFields:(op+n)*cachelayout.OpFields])
		if err != nil || res.Status != Applied || end == to {
			return res, p.Skipped, err
		}
		start, op = end+1, op+n
	}
}

func (s *Store) applyRun(ctx context.Context, gen, from, to uint64, ops []any) (Result, error) {
	g := ""
	if gen != 0 {
		g = strconv.FormatUint(gen, 10)
	}
	args := make([]any, 0, 4+len(ops))
	args = append(args, s.keys.Root(), g, strconv.FormatUint(from, 10), strconv.FormatUint(to, 10))
	args = append(args, ops...)
	v, err := cachelayout.ApplyScript.Run(ctx, s.rdb, []string{s.keys.Current()}, args...).StringSlice()
	if err != nil {
		return Result{}, fmt.Errorf("apply %d facts (%d..%d) to the cache: %w", len(ops)/cachelayout.OpFields, from, to, err)
	}
	return parseResult(v)
}

func parseResult(v []string) (Result, error) {
	if len(v) < 2 {
		return Result{}, fmt.Errorf("apply script answered %q", v)
	}
	var res Result
	if v[1] != "" {
		g, err := strconv.ParseUint(v[1], 10, 64)
		if err != nil {
			return res, fmt.Errorf("apply script: generation %q", v[1])
		}
		res.Gen = g
	}
	switch v[0] {
	case "absent":
		res.Status = Absent
		return res, nil
	case "ok":
		res.Status = Applied
	case "gap":
		res.Status = Gap
	default:
		return res, fmt.Errorf("apply script answered %q", v)
	}
	if len(v) < 3 {
		return res, fmt.Errorf("apply script answered %q", v)
	}
	cp, err := strconv.ParseUint(v[2], 10, 64)
	if err != nil {
		return res, fmt.Errorf("apply script: checkpoint %q", v[2])
	}
	res.Checkpoint = cp
	return res, nil
}

// NewGen creates a generation with checkpoint 0, not current, numbered
// above every generation before it, that records no log.
func (s *Store) NewGen(ctx context.Context) (uint64, error) {
	return s.NewGenOf(ctx, "")
}

// NewGenOf is NewGen for a generation built from the log named log (see
// Source.LogID).
func (s *Store) NewGenOf(ctx context.Context, log string) (uint64, error) {
	g, err := cachelayout.NewGenScript.Run(ctx, s.rdb, []string{s.keys.Counter(), s.keys.Current()}, s.keys.Root(), s.window, log).Uint64()
	if err != nil {
		return 0, fmt.Errorf("new cache generation: %w", err)
	}
	return g, nil
}

// Log returns the log a generation was built from ("": not recorded).
func (s *Store) Log(ctx context.Context, gen uint64) (string, error) {
	v, err := s.rdb.HGet(ctx, s.keys.Meta(gen), "log").Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cache generation %d log: %w", gen, err)
	}
	return v, nil
}

// SetLog records the log of a generation that records none: one built
// before generations recorded their log. A generation without its
// checkpoint (dropped since it was read as current) is left as it is.
func (s *Store) SetLog(ctx context.Context, gen uint64, log string) error {
	if err := cachelayout.SetLogScript.Run(ctx, s.rdb, []string{s.keys.Meta(gen)}, log).Err(); err != nil {
		return fmt.Errorf("cache generation %d: record its log: %w", gen, err)
	}
	return nil
}

// Retire makes gen no longer current, if it is: readers treat the cache as
// absent until another generation is switched to. It does not delete it:
// see Drop.
func (s *Store) Retire(ctx context.Context, gen uint64) error {
	if err := cachelayout.RetireScript.Run(ctx, s.rdb, []string{s.keys.Current()}, strconv.FormatUint(gen, 10)).Err(); err != nil {
		return fmt.Errorf("retire cache generation %d: %w", gen, err)
	}
	return nil
}

// Current returns the current generation and its checkpoint; ok is false if
// there is none, or it has no checkpoint (readers then treat the cache as
// absent).
func (s *Store) Current(ctx context.Context) (gen, cp uint64, ok bool, err error) {
	v, err := cachelayout.CurrentScript.Run(ctx, s.rdb, []string{s.keys.Current()}, s.keys.Root()).StringSlice()
	if err != nil {
		return 0, 0, false, fmt.Errorf("read the current cache generation: %w", err)
	}
	if len(v) != 2 {
		return 0, 0, false, nil
	}
	gen, err1 := strconv.ParseUint(v[0], 10, 64)
	cp, err2 := strconv.ParseUint(v[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false, fmt.Errorf("current cache generation %q, checkpoint %q: not numbers", v[0], v[1])
	}
	return gen, cp, true, nil
}

// Checkpoint returns a generation's checkpoint; ok is false if it has none.
func (s *Store) Checkpoint(ctx context.Context, gen uint64) (uint64, bool, error) {
	v, err := s.rdb.HGet(ctx, s.keys.Meta(gen), "cp").Uint64()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("cache generation %d checkpoint: %w", gen, err)
	}
	return v, true, nil
}

// ErrBehind is Switch's answer when the generation's checkpoint is behind
// the current one's: catch it up and switch again.
var ErrBehind = errors.New("the generation is behind the current one")

// ErrLost is the answer when a generation lost its checkpoint (Redis lost
// its data) while being built or switched to.
var ErrLost = errors.New("the generation lost its checkpoint")

// Switch makes gen the current generation, in one script, if its
// checkpoint is at or beyond the current generation's (else ErrBehind). It
// returns the generation it replaced (0 if none). It does not delete the
// old one: see Drop.
func (s *Store) Switch(ctx context.Context, gen uint64) (old uint64, err error) {
	v, err := cachelayout.SwitchScript.Run(ctx, s.rdb, []string{s.keys.Current()}, s.keys.Root(), strconv.FormatUint(gen, 10)).StringSlice()
	if err != nil {
		return 0, fmt.Errorf("switch to cache generation %d: %w", gen, err)
	}
	switch {
	case len(v) == 1 && v[0] == "absent":
		return 0, fmt.Errorf("switch to cache generation %d: %w", gen, ErrLost)
	case len(v) == 3 && v[0] == "behind":
		return 0, fmt.Errorf("switch to cache generation %d: generation %s is at %s: %w", gen, v[1], v[2], ErrBehind)
	case len(v) == 2 && v[0] == "ok":
		if v[1] == "" {
			return 0, nil
		}
		old, err := strconv.ParseUint(v[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("switch to cache generation %d: replaced %q", gen, v[1])
		}
		return old, nil
	}
	return 0, fmt.Errorf("switch to cache generation %d: script answered %q", gen, v)
}

// dropBatch is how many keys one SCAN step asks for and one UNLINK removes.
const dropBatch = 500

// Drop deletes every key of a generation that is not current, in batches
// (SCAN and UNLINK), and returns how many it deleted. It refuses to drop
// the current generation.
func (s *Store) Drop(ctx context.Context, gen uint64) (int, error) {
	cur, _, _, err := s.Current(ctx)
	if err != nil {
		return 0, err
	}
	if cur == gen {
		return 0, fmt.Errorf("drop cache generation %d: it is the current one", gen)
	}
	n := 0
	err = s.scan(ctx, gen, func(keys []string) error {
		if err := s.rdb.Unlink(ctx, keys...).Err(); err != nil {
			return fmt.Errorf("drop cache generation %d: %w", gen, err)
		}
		n += len(keys)
		return nil
	})
	return n, err
}

// scan calls fn with the keys of a generation, a batch at a time.
func (s *Store) scan(ctx context.Context, gen uint64, fn func([]string) error) error {
	match := globEscape(s.keys.Gen(gen)) + "*"
	var cursor uint64
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, match, dropBatch).Result()
		if err != nil {
			return fmt.Errorf("scan cache generation %d: %w", gen, err)
		}
		if len(keys) > 0 {
			if err := fn(keys); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// globEscape quotes the characters SCAN MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Lease takes the lease that says who rebuilds a lost cache, for ttl,
// as holder. It reports false if another holder has it.
func (s *Store) Lease(ctx context.Context, holder string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.keys.Lease(), holder, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("take the cache lease: %w", err)
	}
	return ok, nil
}

// RenewLease extends holder's lease; it reports false if holder lost it.
func (s *Store) RenewLease(ctx context.Context, holder string, ttl time.Duration) (bool, error) {
	n, err := cachelayout.RenewLeaseScript.Run(ctx, s.rdb, []string{s.keys.Lease()}, holder, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renew the cache lease: %w", err)
	}
	return n == 1, nil
}

// ReleaseLease gives up holder's lease, if it still has it.
func (s *Store) ReleaseLease(ctx context.Context, holder string) error {
	if err := cachelayout.ReleaseLeaseScript.Run(ctx, s.rdb, []string{s.keys.Lease()}, holder).Err(); err != nil {
		return fmt.Errorf("release the cache lease: %w", err)
	}
	return nil
}

// Dump renders every key of a generation canonically, one key a line,
// with the generation number left out of the names: two generations built
// from the same facts dump alike. The log a generation records is left out
// too: it names where the facts came from, not what they made.
func (s *Store) Dump(ctx context.Context, gen uint64) (string, error) {
	var keys []string
	if err := s.scan(ctx, gen, func(k []string) error {
		keys = append(keys, k...)
		return nil
	}); err != nil {
		return "", err
	}
	slices.Sort(keys)
	keys = slices.Compact(keys) // SCAN may return a key twice
	prefix := s.keys.Gen(gen)
	var b strings.Builder
	for _, k := range keys {
		line, err := s.dumpKey(ctx, k, k == s.keys.Meta(gen))
		if err != nil {
			return "", fmt.Errorf("dump %s: %w", k, err)
		}
		b.WriteString(strings.TrimPrefix(k, prefix) + " " + line + "\n")
	}
	return b.String(), nil
}

func (s *Store) dumpKey(ctx context.Context, key string, meta bool) (string, error) {
	typ, err := s.rdb.Type(ctx, key).Result()
	if err != nil {
		return "", err
	}
	switch typ {
	case "hash":
		m, err := s.rdb.HGetAll(ctx, key).Result()
		if err != nil {
			return "", err
		}
		fields := make([]string, 0, len(m))
		for f, v := range m {
			if meta && f == "log" {
				continue
			}
			fields = append(fields, strconv.Quote(f)+"="+strconv.Quote(v))
		}
		slices.Sort(fields)
		return "hash " + strings.Join(fields, " "), nil
	case "set":
		m, err := s.rdb.SMembers(ctx, key).Result()
		if err != nil {
			return "", err
		}
		slices.Sort(m)
		return "set " + strings.Join(m, " "), nil
	case "zset":
		zs, err := s.rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
		if err != nil {
			return "", err
		}
		parts := make([]string, len(zs))
		for i, z := range zs {
			parts[i] = fmt.Sprintf("%v:%s", z.Member, strconv.FormatFloat(z.Score, 'f', -1, 64))
		}
		return "zset " + strings.Join(parts, " "), nil
	case "string":
		v, err := s.rdb.Get(ctx, key).Result()
		return "string " + strconv.Quote(v), err
	case "none":
		return "none", nil // deleted since the scan
	}
	return "", fmt.Errorf("unexpected type %s", typ)
}
