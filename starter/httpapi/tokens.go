package httpapi

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/once-run/once/idempotency"
)

// Token is a bearer token the API accepts, known by its SHA-256 hash only,
// bound to one environment and optionally to a list of tasks.
type Token struct {
	// Hash is the SHA-256 of the token (HashToken). Required.
	Hash [sha256.Size]byte
	// Environment the token may trigger, read, list and reset runs of.
	// Required.
	Environment string
	// Tasks the token may use. Optional: defaults to every task.
	Tasks []string
}

// allows reports whether the token may use task.
func (t *Token) allows(task string) bool {
	return len(t.Tasks) == 0 || slices.Contains(t.Tasks, task)
}

// ErrInvalidTokens: a token list (ParseTokens) that cannot be read.
var ErrInvalidTokens = errors.New("httpapi: invalid token list")

// HashToken returns the lowercase hex SHA-256 of a token: what a token list
// holds instead of the token.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// ParseTokens reads a token list: one token a line (or separated by ";",
// for an environment variable), each
//
//	<sha256 hex of the token> <environment> [task,task,…]
//
// Blank lines and lines starting with "#" are skipped.
//
//	# ci: dev, any task
//	9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 dev
//	# billing service: prod, two tasks
//	60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752 prod send-invoice,refund
//
// Errors: ErrInvalidTokens (wrapped, with the line) for a hash that is not
// 64 hex characters, a missing or invalid environment, an invalid task ID,
// extra fields or the same hash twice.
func ParseTokens(r io.Reader) ([]Token, error) {
	var out []Token
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		for entry := range strings.SplitSeq(sc.Text(), ";") {
			entry = strings.TrimSpace(entry)
			if entry == "" || strings.HasPrefix(entry, "#") {
				continue
			}
			t, err := parseToken(entry)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: %v", ErrInvalidTokens, line, err)
			}
			for _, o := range out {
				if o.Hash == t.Hash {
					return nil, fmt.Errorf("%w: line %d: the same token hash twice", ErrInvalidTokens, line)
				}
			}
			out = append(out, t)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidTokens, err)
	}
	return out, nil
}

func parseToken(entry string) (Token, error) {
	f := strings.Fields(entry)
	if len(f) < 2 || len(f) > 3 {
		return Token{}, errors.New(`want "<sha256 hex> <environment> [task,task,…]"`)
	}
	var t Token
	b, err := hex.DecodeString(strings.ToLower(f[0]))
	if err != nil || len(b) != sha256.Size {
		return Token{}, errors.New("the first field is not a SHA-256 in hex (64 characters): store the token's hash, not the token")
	}
	copy(t.Hash[:], b)
	if err := idempotency.ValidateEnvironment(f[1]); err != nil {
		return Token{}, err
	}
	t.Environment = f[1]
	if len(f) == 3 {
		for task := range strings.SplitSeq(f[2], ",") {
			if err := idempotency.ValidateTaskID(task); err != nil {
				return Token{}, err
			}
			t.Tasks = append(t.Tasks, task)
		}
	}
	return t, nil
}

// match returns the token whose hash is the SHA-256 of bearer, comparing
// with every token in constant time; nil when none matches.
func match(tokens []Token, bearer string) *Token {
	h := sha256.Sum256([]byte(bearer))
	var found *Token
	for i := range tokens {
		if subtle.ConstantTimeCompare(h[:], tokens[i].Hash[:]) == 1 {
			found = &tokens[i]
		}
	}
	return found
}
