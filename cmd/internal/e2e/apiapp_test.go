package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/once-run/once/cmd/internal/apiapp"
	"github.com/once-run/once/cmd/internal/workerapp"
	"github.com/once-run/once/starter/httpapi"
)

// The dev-mode worker serves the HTTP API, without a token on loopback, and
// prints where in its banner.
func TestHTTPAPIWorkerDevMode(t *testing.T) {
	needsEmbedded(t)
	m := workerMain(t, nil)
	var stdout bytes.Buffer
	m.Stdout = &stdout
	require.NoError(t, m.ParseFlags([]string{
		"--dev-grpc-addr", "127.0.0.1:0", "--dev-ui-addr", "", "--http-addr", "127.0.0.1:0",
		"--dev-db", filepath.Join(t.TempDir(), "dev.db"), "--log-level", "error",
	}))
	ctx := testCtx(t, 2*time.Minute)
	require.NoError(t, m.Run(ctx))
	defer func() { require.NoError(t, m.Close()) }()
	require.Regexp(t, regexp.MustCompile(`\nHTTP API         http://127\.0\.0\.1:\d+\n`), stdout.String())
	require.True(t, strings.HasSuffix(stdout.String(), "HTTP API         "+m.APIURL()+"\n"), stdout.String())

	api := newAPIClient(t, m.APIURL(), nil)
	api.doc.Security = nil // no tokens: none needed
	a := api.do(apiCall{method: "POST", path: "/v1/tasks/hello/trigger", ctype: "application/json",
		header: map[string]string{"Idempotency-Key": unique("dev")}, body: `{"payload": {"name": "Ada"}, "wait": "30s"}`})
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	require.Equal(t, "Hello, Ada", a.json(t)["result"])
	require.True(t, strings.HasPrefix(a.json(t)["workflowId"].(string), "dev/hello/"))
	// The worker's tasks are the API's: another is unknown.
	a = api.do(apiCall{method: "POST", path: "/v1/tasks/no-such-task/trigger", ctype: "application/json", body: `{}`})
	a.problem(t, 404, httpapi.ProblemUnknownTask)
}

// Where the worker's HTTP API listens, and when it needs tokens.
func TestHTTPAPIWorkerFlags(t *testing.T) {
	db := filepath.Join(t.TempDir(), "dev.db")
	tokens := httpapi.HashToken("t") + " dev"
	for _, tt := range []struct {
		name    string
		vars    map[string]string
		args    []string
		want    string
		wantErr string
	}{
		{"dev mode: on, loopback", nil, nil, workerapp.DevHTTPAddr, ""},
		{"dev mode: off", nil, []string{"--http-addr", ""}, "", ""},
		{"dev mode: ONCE_HTTP_ADDR", map[string]string{"ONCE_HTTP_ADDR": "127.0.0.1:9999"}, nil, "127.0.0.1:9999", ""},
		{"a server: off", map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:7233"}, nil, "", ""},
		{"a server: needs tokens", map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:7233"}, []string{"--http-addr", "127.0.0.1:7243"}, "", "without tokens"},
		{"a server: with tokens", map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:7233", "ONCE_API_TOKENS": tokens}, []string{"--http-addr", "0.0.0.0:7243"}, "0.0.0.0:7243", ""},
		{"dev mode, not loopback: needs tokens", nil, []string{"--http-addr", "0.0.0.0:7243"}, "", "without tokens"},
		{"bad token list", map[string]string{"ONCE_API_TOKENS": "secret dev"}, nil, "", "SHA-256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := workerMain(t, tt.vars)
			err := m.ParseFlags(append([]string{"--dev-db", db}, tt.args...))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, m.HTTPAddr)
		})
	}
}

// apiMain is an API program whose environment is vars only.
func apiMain(t *testing.T, vars map[string]string) (*apiapp.Main, *bytes.Buffer) {
	t.Helper()
	env := map[string]string{"TEMPORAL_CONFIG_FILE": filepath.Join(t.TempDir(), "missing.toml")}
	for k, v := range vars {
		env[k] = v
	}
	m := apiapp.NewMain()
	m.Getenv = func(k string) string { return env[k] }
	m.Environ = func() []string { return nil }
	var stdout bytes.Buffer
	m.Stdout, m.Stderr = &stdout, io.Discard
	return m, &stdout
}

// The API binary: refuses to start without tokens, prints a token's hash,
// serves HTTPS with tokens of the environment it names.
func TestHTTPAPIBinary(t *testing.T) {
	m, _ := apiMain(t, nil)
	require.ErrorContains(t, m.ParseFlags(nil), "no tokens")
	m, _ = apiMain(t, nil)
	require.NoError(t, m.ParseFlags([]string{"--insecure-no-auth"}))
	m, _ = apiMain(t, nil)
	require.ErrorContains(t, m.ParseFlags([]string{"--tokens-file", filepath.Join(t.TempDir(), "none")}), "tokens file")

	m, out := apiMain(t, nil)
	require.ErrorIs(t, m.ParseFlags([]string{"hash-token", "s3cret"}), apiapp.ErrHelp)
	require.Equal(t, httpapi.HashToken("s3cret")+"\n", out.String())
	m, out = apiMain(t, nil)
	m.Stdin = strings.NewReader("s3cret\n")
	require.ErrorIs(t, m.ParseFlags([]string{"hash-token"}), apiapp.ErrHelp)
	require.Equal(t, httpapi.HashToken("s3cret")+"\n", out.String())

	e := newTaskEnv(t, true)
	token := unique("tok")
	dir := t.TempDir()
	tokensFile := filepath.Join(dir, "tokens.txt")
	require.NoError(t, os.WriteFile(tokensFile, []byte(httpapi.HashToken(token)+" "+e.env+"\n"), 0o600))
	certFile, keyFile, pool := selfSignedCert(t, dir)
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	defer func() { require.NoError(t, tp.Shutdown(context.Background())) }()
	m, out = apiMain(t, map[string]string{"TEMPORAL_ADDRESS": srv.Address(), "TEMPORAL_NAMESPACE": srv.Namespace()})
	m.TracerProvider = tp
	require.NoError(t, m.ParseFlags([]string{"--addr", "127.0.0.1:0", "--tokens-file", tokensFile,
		"--tls-cert", certFile, "--tls-key", keyFile, "--tasks", "hello,child-task", "--log-level", "error",
		"--metrics-addr", "127.0.0.1:0", "--otel"}))
	ctx := testCtx(t, 2*time.Minute)
	require.NoError(t, m.Run(ctx))
	defer func() { require.NoError(t, m.Close()) }()
	require.Regexp(t, `\nHTTP API         https://127\.0\.0\.1:\d+ \(1 tokens\)\n`, out.String())

	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	api := newAPIClient(t, m.URL(), hc)
	a := api.do(apiCall{method: "POST", path: "/v1/tasks/hello/trigger", token: token, ctype: "application/json",
		header: map[string]string{"Idempotency-Key": unique("bin")}, body: `{"payload": {"name": "TLS"}, "wait": "30s"}`})
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	require.Equal(t, "Hello, TLS", a.json(t)["result"])
	require.True(t, strings.HasPrefix(a.json(t)["workflowId"].(string), e.env+"/hello/"), "the token's environment")
	api.do(apiCall{method: "POST", path: "/v1/tasks/my-task/trigger", token: token, ctype: "application/json", body: `{}`}).problem(t, 404, httpapi.ProblemUnknownTask)
	for _, ctype := range []string{"application/json", "application/x-ndjson"} {
		api.do(apiCall{method: "POST", path: "/v1/tasks/my-task/batch", token: token, ctype: ctype, body: "[{}]", invalid: true}).problem(t, 404, httpapi.ProblemUnknownTask)
	}

	// Its metrics and spans.
	eventually(t, 10*time.Second, "the binary counts its requests", func() (bool, error) {
		mf := families(t, scrape(t, m.MetricsAddress()))
		return sumSeries(mf, "once_http_requests_total", map[string]string{httpapi.TagRoute: "POST /v1/tasks/{task}/trigger", httpapi.TagStatus: "201"}) == 1, nil
	})
	tree := newSpanTree(exporter.GetSpans())
	traced := false
	for _, s := range tree.spans {
		if s.Name == httpapi.SpanHTTP+":POST /v1/tasks/{task}/trigger" && len(tree.children(s, "Trigger:hello")) == 1 {
			traced = true
		}
	}
	require.True(t, traced, "a span of the trigger request, parent of Trigger:hello: %s", tree)

	// Plain HTTP to the HTTPS port is refused.
	resp, err := http.Get(strings.Replace(m.URL(), "https://", "http://", 1) + "/openapi.json")
	if err == nil {
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key, and
// returns a pool that trusts it.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "once-api-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	return certFile, keyFile, pool
}

// The worker's HTTP API is counted by its metrics (route and status) and
// traced: a request's traceparent is the parent of its HTTP span, which is
// the parent of the trigger's span and so of the run's.
func TestHTTPAPIMetricsAndTracing(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	defer func() { require.NoError(t, tp.Shutdown(context.Background())) }()

	env := unique("apiobs")
	token := unique("tok")
	m := workerMain(t, map[string]string{"TEMPORAL_ADDRESS": srv.Address(), "TEMPORAL_NAMESPACE": srv.Namespace(),
		"ONCE_API_TOKENS": httpapi.HashToken(token) + " " + env})
	m.TracerProvider = tp
	require.NoError(t, m.ParseFlags([]string{"--env", env, "--examples", "--otel", "--metrics-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--log-level", "error"}))
	ctx := testCtx(t, 2*time.Minute)
	require.NoError(t, m.Run(ctx))
	defer func() { require.NoError(t, m.Close()) }()

	rctx, span := tp.Tracer("client").Start(ctx, "client-request")
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(rctx, carrier)
	api := newAPIClient(t, m.APIURL(), nil)
	a := api.do(apiCall{method: "POST", path: "/v1/tasks/hello/trigger", token: token, ctype: "application/json",
		header: map[string]string{"Idempotency-Key": unique("obs"), "Traceparent": carrier["traceparent"]},
		body:   `{"payload": {"name": "Ada"}, "wait": "30s"}`})
	span.End()
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	api.do(apiCall{method: "GET", path: "/v1/runs/run_nope", token: token}).problem(t, 404, httpapi.ProblemRunNotFound)

	var tree spanTree
	eventually(t, 10*time.Second, "the request's spans are exported", func() (bool, error) {
		tree = newSpanTree(exporter.GetSpans())
		for _, s := range tree.spans {
			if s.Name == "RunWorkflow:hello" {
				return true, nil
			}
		}
		return false, nil
	})
	var client tracetest.SpanStub
	for _, s := range tree.spans {
		if s.Name == "client-request" {
			client = s
		}
	}
	httpSpan := tree.child(t, client, httpapi.SpanHTTP+":POST /v1/tasks/{task}/trigger")
	trigger := tree.child(t, httpSpan, "Trigger:hello")
	tree.child(t, trigger, "RunWorkflow:hello")

	eventually(t, 10*time.Second, "the requests are counted", func() (bool, error) {
		mf := families(t, scrape(t, m.MetricsAddress()))
		created := sumSeries(mf, "once_http_requests_total", map[string]string{httpapi.TagRoute: "POST /v1/tasks/{task}/trigger", httpapi.TagStatus: "201"})
		missing := sumSeries(mf, "once_http_requests_total", map[string]string{httpapi.TagRoute: "GET /v1/runs/{id}", httpapi.TagStatus: "404"})
		timed := sumSeries(mf, "once_http_request_latency_seconds", map[string]string{httpapi.TagRoute: "POST /v1/tasks/{task}/trigger", httpapi.TagStatus: "201"})
		return created == 1 && missing == 1 && timed == 1, nil
	})
}
