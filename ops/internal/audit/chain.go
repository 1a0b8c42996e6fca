package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Genesis is the previous hash of an export's first line.
var Genesis = strings.Repeat("0", 64)

// Chain seals records one after another into export lines.
type Chain struct {
	prev string
}

// NewChain starts a chain at Genesis.
func NewChain() *Chain { return &Chain{prev: Genesis} }

// Last is the hash of the last line sealed (Genesis before the first).
func (c *Chain) Last() string { return c.prev }

// Canonical is the JSON of r without its hash: the bytes the chain covers.
func Canonical(r Record) ([]byte, error) {
	r.Hash = ""
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode record %d: %w", r.Stream, err)
	}
	return b, nil
}

// LinkHash is hex SHA-256(prev + canonical).
func LinkHash(prev string, canonical []byte) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// Seal returns r's export line (without the newline): its canonical JSON
// with the hash field added last.
func (c *Chain) Seal(r Record) ([]byte, error) {
	canon, err := Canonical(r)
	if err != nil {
		return nil, err
	}
	c.prev = LinkHash(c.prev, canon)
	return withHash(canon, c.prev), nil
}

// hashSuffix is how every sealed line ends, before the hash's 64 hex digits
// and the closing brace.
const hashSuffix = `,"hash":"`

func withHash(canon []byte, hash string) []byte {
	line := make([]byte, 0, len(canon)+len(hashSuffix)+len(hash)+2)
	line = append(line, canon[:len(canon)-1]...)
	line = append(line, hashSuffix...)
	line = append(line, hash...)
	return append(line, '"', '}')
}

// BadLineError names the first line of an export that breaks the chain.
type BadLineError struct {
	Line   int // 1-based
	Stream uint64
	Reason string
}

func (e *BadLineError) Error() string {
	if e.Stream != 0 {
		return fmt.Sprintf("line %d (stream seq %d): %s", e.Line, e.Stream, e.Reason)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
}

// VerifySummary describes an intact export.
type VerifySummary struct {
	Lines     int    `json:"lines"`
	FirstSeq  uint64 `json:"firstSeq,omitempty"`
	LastSeq   uint64 `json:"lastSeq,omitempty"`
	FinalHash string `json:"finalHash"`
}

// Verify recomputes the chain of an export. It returns a *BadLineError for
// the first line that is not canonical, does not carry the hash its
// content and predecessor give, or does not follow its predecessor in
// stream order; any other error is a read error.
func Verify(r io.Reader) (VerifySummary, error) {
	sum := VerifySummary{FinalHash: Genesis}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		sum.Lines++
		rec, err := checkLine(sc.Bytes(), sum.FinalHash)
		if err != nil {
			return sum, &BadLineError{Line: sum.Lines, Stream: rec.Stream, Reason: err.Error()}
		}
		if sum.LastSeq != 0 && rec.Stream <= sum.LastSeq {
			return sum, &BadLineError{Line: sum.Lines, Stream: rec.Stream,
				Reason: fmt.Sprintf("stream seq %d does not follow %d", rec.Stream, sum.LastSeq)}
		}
		if sum.FirstSeq == 0 {
			sum.FirstSeq = rec.Stream
		}
		sum.LastSeq, sum.FinalHash = rec.Stream, rec.Hash
	}
	if err := sc.Err(); err != nil {
		return sum, fmt.Errorf("read export: %w", err)
	}
	return sum, nil
}

// checkLine checks one line against the previous hash.
func checkLine(line []byte, prev string) (Record, error) {
	var rec Record
	if err := json.Unmarshal(line, &rec); err != nil {
		return rec, fmt.Errorf("not a record: %w", err)
	}
	if rec.Hash == "" {
		return rec, errors.New("no hash")
	}
	canon, err := Canonical(rec)
	if err != nil {
		return rec, err
	}
	if !bytes.Equal(line, withHash(canon, rec.Hash)) {
		return rec, errors.New("not in canonical form (altered)")
	}
	if want := LinkHash(prev, canon); rec.Hash != want {
		return rec, fmt.Errorf("hash %s, want %s (altered, or a line before it dropped or moved)", rec.Hash, want)
	}
	return rec, nil
}
