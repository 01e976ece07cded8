package bench

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadHead(t *testing.T) {
	tests := []struct {
		name, head   string
		status, size int
		keep         bool
		err          string
	}{
		{name: "ok", head: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n", status: 200, size: 12, keep: true},
		{name: "close", head: "HTTP/1.1 201 Created\r\ncontent-length: 0\r\nConnection: close\r\n\r\n", status: 201, keep: false},
		{name: "HTTP/1.0", head: "HTTP/1.0 404 Not Found\r\nContent-Length: 3\r\n\r\n", status: 404, size: 3, keep: false},
		{name: "chunked", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", err: "Transfer-Encoding"},
		{name: "no length", head: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", err: "without Content-Length"},
		{name: "bad length", head: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: "Content-Length"},
		{name: "bad status line", head: "SSH-2.0-OpenSSH\r\n\r\n", err: "status line"},
		{name: "bad status", head: "HTTP/1.1 2x0 OK\r\n\r\n", err: "status line"},
		{name: "bad header", head: "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", err: "header"},
		{name: "truncated", head: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", err: "header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, size, keep, err := readHead(bufio.NewReader(strings.NewReader(tt.head)))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, []any{tt.status, tt.size, tt.keep}, []any{status, size, keep})
		})
	}
}

// The load client against net/http's server: requests as sent, answers
// read whole, connections kept alive (one per concurrent caller).
func TestLoadClient(t *testing.T) {
	var conns, requests atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer t" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request line or headers", http.StatusBadRequest)
			return
		}
		body := make([]byte, 64)
		n, _ := r.Body.Read(body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(r.URL.Path + " " + string(body[:n])))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	l := newLoadClient(strings.TrimPrefix(srv.URL, "http://"), 1)
	defer l.close()
	for i := range 3 {
		status, body, err := l.post("/v1/tasks/t/trigger", `{"payload": 1}`, "Authorization", "Bearer t", "Content-Type", "application/json")
		require.NoError(t, err, i)
		require.Equal(t, http.StatusCreated, status, string(body))
		require.Equal(t, `/v1/tasks/t/trigger {"payload": 1}`, string(body))
	}
	status, body, err := l.post("/x", "", "Authorization", "Bearer wrong")
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, string(body), "bad request line")
	require.EqualValues(t, 4, requests.Load())
	require.EqualValues(t, 1, conns.Load(), "one kept-alive connection")
}
