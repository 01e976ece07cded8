// Package devserver runs a real Temporal server inside the current process,
// backed by SQLite: a file (persistent across restarts) or memory (tests).
//
// It is what `go run ./cmd/worker` starts when TEMPORAL_ADDRESS is unset, and
// what Once's integration tests run against. It is a development and test
// server: one history shard, one process, no TLS, no authentication. Do not
// use it to serve production traffic; point the worker at a Temporal cluster
// (TEMPORAL_ADDRESS) for that.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/once-run/once"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/once-run/once/cmd/internal/shared"
)

// DefaultRetention is the namespace retention used when Options.Retention is
// zero. It matches Once's default key TTL, so that a key is not forgotten
// before it expires.
const DefaultRetention = 30 * 24 * time.Hour

const clusterName = "active"

// Options configures an embedded server. The zero value is a usable
// in-memory server on a random loopback port without UI.
type Options struct {
	// Address is the gRPC frontend's host:port.
	// Optional: defaults to "127.0.0.1:0", a random free loopback port.
	Address string

	// DBFile is the SQLite file that holds all server state. Stop the server
	// and start it again on the same file, and every workflow is still there.
	// Optional: defaults to "", an in-memory database that is gone on Stop.
	DBFile string

	// Namespace is created at start if it does not exist yet.
	// Optional: defaults to "default".
	Namespace string

	// Retention of closed workflows in Namespace. An existing namespace is
	// updated to it on start.
	// Optional: defaults to DefaultRetention (30 days).
	Retention time.Duration

	// UIAddress is where the Temporal Web UI listens, host:port ("…:0" picks a
	// free port). Optional: defaults to "", no UI.
	UIAddress string

	// LogLevel of the server's own log on stderr: debug, info, warn, error.
	// Optional: defaults to "error" (the server is chatty).
	LogLevel string

	// SearchAttributes are custom search attributes registered in Namespace
	// when it is created. Optional: defaults to Once's (once.SearchAttributes(),
	// all Keyword).
	SearchAttributes map[string]enumspb.IndexedValueType

	// DynamicConfig overrides server dynamic config keys.
	// Optional: defaults to none.
	DynamicConfig map[string]any

	// ReadyTimeout bounds how long Start waits for the frontend to answer.
	// Optional: defaults to 60s.
	ReadyTimeout time.Duration
}

// Server is a running embedded Temporal server. Stop it when done.
type Server struct {
	opts     Options
	address  string
	uiAddr   string
	server   temporal.Server
	ui       *uiserver.Server
	stopOnce sync.Once
	stopErr  error
}

// generation makes each Start's SQLite DSN unique: the server's SQLite plugin
// pools connections by DSN for the life of the process and never closes them,
// so without it a restart on the same file would reuse the old connection
// instead of reading the file afresh.
var generation atomic.Int64

// Start starts a server and returns once it accepts requests on its frontend.
//
// Errors: a bad address or unusable DB file, a server that fails to start, or
// one that does not answer within Options.ReadyTimeout.
func Start(opts Options) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	host, port, err := resolvePort(opts.Address)
	if err != nil {
		return nil, fmt.Errorf("devserver: address %q: %w", opts.Address, err)
	}
	s := &Server{opts: opts, address: net.JoinHostPort(host, strconv.Itoa(port))}
	if s.server, err = s.newTemporalServer(host, port); err != nil {
		return nil, err
	}
	if err := s.server.Start(); err != nil {
		return nil, fmt.Errorf("devserver: start: %w", err)
	}
	if opts.UIAddress != "" {
		if err := s.startUI(); err != nil {
			_ = s.Stop()
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.ReadyTimeout)
	defer cancel()
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// withDefaults fills in the optional fields of o.
func (o Options) withDefaults() (Options, error) {
	if o.Address == "" {
		o.Address = "127.0.0.1:0"
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.Retention < 0 {
		return o, fmt.Errorf("devserver: retention %v is negative", o.Retention)
	}
	if o.LogLevel == "" {
		o.LogLevel = "error"
	}
	if o.SearchAttributes == nil {
		o.SearchAttributes = make(map[string]enumspb.IndexedValueType, len(once.SearchAttributes()))
		for _, name := range once.SearchAttributes() {
			o.SearchAttributes[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
		}
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	return o, nil
}

// newTemporalServer builds (does not start) the server: all services in this
// process on host, the frontend on port, SQLite, a static dynamic config.
func (s *Server) newTemporalServer(host string, port int) (temporal.Server, error) {
	sqlConf, err := s.sqlConfig()
	if err != nil {
		return nil, err
	}
	conf, err := s.serverConfig(host, port, sqlConf)
	if err != nil {
		return nil, err
	}
	logger := log.NewZapLogger(log.BuildZapLogger(log.Config{Level: s.opts.LogLevel, Format: "console"}))
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("devserver: authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("devserver: claim mapper: %w", err)
	}
	dyn := dynamicconfig.StaticClient{
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8096,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 1000,
		dynamicconfig.FrontendMaxNamespaceRPSPerInstance.Key():           100000,
		dynamicconfig.FrontendRPS.Key():                                  100000,
	}
	for k, v := range s.opts.DynamicConfig {
		dyn[dynamicconfig.MakeKey(k)] = v
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, svc := range conf.Services {
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(net.JoinHostPort(host, strconv.Itoa(svc.RPC.GRPCPort)))
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, fmt.Errorf("devserver: new server: %w", err)
	}
	return srv, nil
}

func (s *Server) Address() string { return s.address }

// UIAddress is the Web UI's host:port, or "" when the UI is off.
func (s *Server) UIAddress() string { return s.uiAddr }

// Namespace is the namespace the server created.
func (s *Server) Namespace() string { return s.opts.Namespace }

// DBFile is the SQLite file, or "" for an in-memory server.
func (s *Server) DBFile() string { return s.opts.DBFile }

// Stop stops the UI and the server. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.ui != nil {
			s.ui.Stop()
		}
		if s.server != nil {
			s.stopErr = s.server.Stop()
		}
	})
	return s.stopErr
}

func (s *Server) sqlConfig() (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName}
	gen := generation.Add(1)
	if s.opts.DBFile == "" {
		conf.DatabaseName = fmt.Sprintf("once-mem-%d-%d", os.Getpid(), gen)
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
	} else {
		abs, err := filepath.Abs(s.opts.DBFile)
		if err != nil {
			return nil, fmt.Errorf("devserver: db file %q: %w", s.opts.DBFile, err)
		}
		s.opts.DBFile = abs
		conf.DatabaseName = abs
		conf.ConnectAttributes = map[string]string{
			"mode":         "rwc",
			"journal_mode": "wal",
			"synchronous":  "normal",
			// Unique per Start (see generation); the value itself is a
			// reasonable lock wait.
			"busy_timeout": strconv.FormatInt(10000+gen, 10),
		}
		if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
			if _, err := os.Stat(filepath.Dir(abs)); err != nil {
				return nil, fmt.Errorf("devserver: db file %q: folder: %w", s.opts.DBFile, err)
			}
			if err := sqliteschema.SetupSchema(conf); err != nil {
				return nil, fmt.Errorf("devserver: set up schema in %q: %w", abs, err)
			}
		} else if err != nil {
			return nil, fmt.Errorf("devserver: db file %q: %w", s.opts.DBFile, err)
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, s.opts.Namespace, false, s.opts.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("devserver: namespace %q: %w", s.opts.Namespace, err)
	}
	ns.Detail.Config.Retention = durationpb.New(s.opts.Retention)
	if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
		return nil, fmt.Errorf("devserver: create namespace %q: %w", s.opts.Namespace, err)
	}
	return conf, nil
}

func (s *Server) serverConfig(host string, port int, sqlConf *config.SQL) (*config.Config, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	httpPort, err := freePort(host)
	if err != nil {
		return nil, err
	}
	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = host
	conf.Persistence.DefaultStore = "sqlite"
	conf.Persistence.VisibilityStore = "sqlite"
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite": {SQL: sqlConf}}
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             addr,
				HTTPAddress:            net.JoinHostPort(host, strconv.Itoa(httpPort)),
				ClusterID:              "once-dev",
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for _, name := range []string{"frontend", "history", "matching", "worker"} {
		var svc config.Service
		svc.RPC.BindOnIP = host
		if name == "frontend" {
			svc.RPC.GRPCPort = port
			svc.RPC.HTTPPort = httpPort
		} else if svc.RPC.GRPCPort, err = freePort(host); err != nil {
			return nil, err
		}
		conf.Services[name] = svc
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = addr
	return &conf, nil
}

func (s *Server) startUI() error {
	host, port, err := resolvePort(s.opts.UIAddress)
	if err != nil {
		return fmt.Errorf("devserver: UI address %q: %w", s.opts.UIAddress, err)
	}
	s.uiAddr = net.JoinHostPort(host, strconv.Itoa(port))
	s.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
		Host:                host,
		Port:                port,
		TemporalGRPCAddress: s.address,
		EnableUI:            true,
		DefaultNamespace:    s.opts.Namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
		DisableNewsFetch:    true,
	}))
	errc := make(chan error, 1)
	go func() { errc <- s.ui.Start() }()
	// The UI server's Start blocks; give it a moment to fail on a taken port.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-errc:
			return fmt.Errorf("devserver: UI on %s: %w", s.uiAddr, err)
		default:
		}
		if c, err := net.DialTimeout("tcp", s.uiAddr, time.Second); err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("devserver: UI on %s did not start within 10s", s.uiAddr)
}

// waitReady polls the frontend until the namespace answers, then brings an
// existing namespace's retention to Options.Retention.
func (s *Server) waitReady(ctx context.Context) error {
	c, err := client.NewLazyClient(client.Options{HostPort: s.address, Namespace: s.opts.Namespace, Logger: shared.DiscardLogger()})
	if err != nil {
		return fmt.Errorf("devserver: client: %w", err)
	}
	defer c.Close()
	var lastErr error
	for {
		resp, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.opts.Namespace})
		if err == nil {
			if resp.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration() == s.opts.Retention {
				return nil
			}
			_, err = c.WorkflowService().UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
				Namespace: s.opts.Namespace,
				Config: &namespacepb.NamespaceConfig{
					WorkflowExecutionRetentionTtl: durationpb.New(s.opts.Retention),
				},
			})
			if err == nil {
				continue // read it back
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("devserver: frontend %s not ready: %w (last error: %v)", s.address, ctx.Err(), lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// resolvePort splits host:port and replaces port 0 with a free one.
func resolvePort(address string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, err
	}
	if host == "" {
		host = "127.0.0.1"
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 0 to 65535", portStr)
	}
	if port == 0 {
		if port, err = freePort(host); err != nil {
			return "", 0, err
		}
	}
	return host, port, nil
}

// freePort asks the kernel for a free TCP port on host.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("devserver: find a free port on %s: %w", host, err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
