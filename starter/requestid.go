package starter

import (
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Once writes what it needs to judge a cached hit into the request ID of the
// start that creates a run for a new key, because the server returns that
// request ID with every duplicate-start error: one RPC then suffices on the
// hot path.
//
//	once1.<kind>.<ttl ms or ->.<payload hash or ->.<suffix>
//
// kind n: a new key; TTL and, in strict mode, payload hash of the run;
// suffix random.
//
// kind r: a run that replaces another (expired, reset, or failed with
// RetryFailed); suffix the replaced run ID, and no TTL or hash ("-"), so
// that the request ID is the same for every caller that replaces that run
// and the server answers all of them with the one run the first created. The
// new run's TTL and payload hash are in its memo. (Versions before this
// wrote the caller's TTL and hash here too; such request IDs are still
// read.)
//
// kind x: a reset marker; suffix the reset run ID, so that concurrent resets
// of a run make one marker.
const requestIDVersion = "once1"

type requestKind byte

const (
	kindNew     requestKind = 'n'
	kindReplace requestKind = 'r'
	kindMarker  requestKind = 'x'
)

type requestID struct {
	kind   requestKind
	ttl    time.Duration // 0: not recorded ("-")
	hash   string        // payload hash in strict mode, else ""
	suffix string
}

func (r requestID) String() string {
	hash := r.hash
	if hash == "" {
		hash = "-"
	}
	var b strings.Builder
	b.Grow(len(requestIDVersion) + 24 + len(hash) + len(r.suffix))
	b.WriteString(requestIDVersion)
	b.WriteByte('.')
	b.WriteByte(byte(r.kind))
	b.WriteByte('.')
	if r.ttl > 0 {
		b.WriteString(strconv.FormatInt(r.ttl.Milliseconds(), 10))
	} else {
		b.WriteByte('-')
	}
	b.WriteByte('.')
	b.WriteString(hash)
	b.WriteByte('.')
	b.WriteString(r.suffix)
	return b.String()
}

// parseRequestID reads a request ID written by String; ok is false for any
// other (a run Once did not start, or a server-made retry run).
func parseRequestID(s string) (r requestID, ok bool) {
	parts := strings.SplitN(s, ".", 5)
	if len(parts) != 5 || parts[0] != requestIDVersion || len(parts[1]) != 1 {
		return requestID{}, false
	}
	r.kind = requestKind(parts[1][0])
	switch r.kind {
	case kindNew, kindReplace, kindMarker:
	default:
		return requestID{}, false
	}
	if parts[2] != "-" {
		ms, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil || ms < 0 {
			return requestID{}, false
		}
		r.ttl = time.Duration(ms) * time.Millisecond
	}
	if parts[3] != "-" {
		r.hash = parts[3]
	}
	r.suffix = parts[4]
	return r, true
}

// runIDTime returns the creation time that a UUIDv7 run ID carries (current
// Temporal servers make run IDs with uuid.NewV7); ok is false for other IDs.
func runIDTime(runID string) (time.Time, bool) {
	u, err := uuid.Parse(runID)
	if err != nil || u.Version() != 7 {
		return time.Time{}, false
	}
	sec, nsec := u.Time().UnixTime()
	return time.Unix(sec, nsec), true
}
