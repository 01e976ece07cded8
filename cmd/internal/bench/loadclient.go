package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// loadClient is the bench's HTTP load generator: HTTP/1.1 POSTs on
// kept-alive connections, each request written in one write and its answer
// read by a parser that takes only what the bench checks (the status, the
// body by its Content-Length). The HTTP clients share the two cores with the
// API and the server; like wrk or hey, a lean generator leaves the cores to
// what is measured, as the Go side's loop calling Trigger does. (net/http's
// Client took 23 µs of CPU per request on loopback where this one takes 13:
// a goroutine writes and another reads each connection, and every request
// builds a Request and a Response.)
type loadClient struct {
	addr  string // host:port
	idle  chan *loadConn
	limit time.Duration // the longest a request may take
}

func newLoadClient(addr string, conns int) *loadClient {
	return &loadClient{addr: addr, idle: make(chan *loadConn, conns), limit: time.Minute}
}

// loadConn is one kept-alive connection, with its buffers.
type loadConn struct {
	c   net.Conn
	br  *bufio.Reader
	req []byte
	buf []byte
}

// post sends a POST of body to path with the headers (name, value, name,
// value, …) and returns the answer's status and body; the body is valid
// until the next post.
func (l *loadClient) post(path string, body string, headers ...string) (int, []byte, error) {
	var lc *loadConn
	select {
	case lc = <-l.idle:
	default:
		c, err := net.DialTimeout("tcp", l.addr, l.limit)
		if err != nil {
			return 0, nil, err
		}
		lc = &loadConn{c: c, br: bufio.NewReaderSize(c, 4096)}
	}
	status, respBody, keep, err := lc.roundTrip(l.addr, path, body, headers, time.Now().Add(l.limit))
	if err != nil || !keep {
		_ = lc.c.Close()
		return status, respBody, err
	}
	select {
	case l.idle <- lc:
	default:
		_ = lc.c.Close()
	}
	return status, respBody, nil
}

func (l *loadClient) close() {
	for {
		select {
		case lc := <-l.idle:
			_ = lc.c.Close()
		default:
			return
		}
	}
}

func (lc *loadConn) roundTrip(host, path, body string, headers []string, deadline time.Time) (status int, respBody []byte, keep bool, err error) {
	if err := lc.c.SetDeadline(deadline); err != nil {
		return 0, nil, false, err
	}
	b := append(lc.req[:0], "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	for i := 0; i+1 < len(headers); i += 2 {
		b = append(b, "\r\n"...)
		b = append(b, headers[i]...)
		b = append(b, ": "...)
		b = append(b, headers[i+1]...)
	}
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	lc.req = b
	if _, err := lc.c.Write(b); err != nil {
		return 0, nil, false, err
	}
	status, length, keep, err := readHead(lc.br)
	if err != nil {
		return 0, nil, false, err
	}
	if cap(lc.buf) < length {
		lc.buf = make([]byte, length)
	}
	lc.buf = lc.buf[:length]
	if _, err := io.ReadFull(lc.br, lc.buf); err != nil {
		return 0, nil, false, fmt.Errorf("bench: http body: %w", err)
	}
	return status, lc.buf, keep, nil
}

// readHead reads an HTTP/1.1 answer's status line and headers: its status,
// its Content-Length, and whether the connection stays open. An answer
// without Content-Length (chunked, or to the connection's close) is an
// error: the API sends one for every answer the bench asks for.
func readHead(br *bufio.Reader) (status, length int, keep bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, 0, false, fmt.Errorf("bench: http status line: %w", err)
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, 0, false, fmt.Errorf("bench: http status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, 0, false, fmt.Errorf("bench: http status line %q", line)
	}
	length, keep = -1, line[7] == '1'
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, 0, false, fmt.Errorf("bench: http header: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, 0, false, fmt.Errorf("bench: http header %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, 0, false, fmt.Errorf("bench: http Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")):
			keep = !bytes.EqualFold(value, []byte("close"))
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, 0, false, errors.New("bench: http answer with Transfer-Encoding: want Content-Length")
		}
	}
	if length < 0 {
		return 0, 0, false, errors.New("bench: http answer without Content-Length")
	}
	return status, length, keep, nil
}
