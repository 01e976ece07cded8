package starter

import (
	"context"
	"errors"
	"fmt"
	"os"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc"
)

// A Client starts runs the way the SDK's client.ExecuteWorkflow does,
// because it starts them with ExecuteWorkflow, on an SDK client that Dial
// makes from the client.Options a service already has: the runs land in
// that client's namespace; input, memo and results go through its data
// converter and payload codec, failures through its failure converter; its
// context propagators and client interceptors write their headers. There is
// no second copy of those settings to fall out of step.
//
// What Once adds to a start it adds below the SDK, in a gRPC interceptor on
// that client's connection: the start's request ID (which carries the key's
// TTL and payload hash, and makes concurrent replacements of one run one
// start) and the header of the trigger's span. So Once needs a connection of its own
// making, and does not wrap a client dialed elsewhere
// (client.NewClientFromExisting shares a connection it cannot add to).
//
// The settings are read by a client plugin that Dial appends last to
// client.Options.Plugins: it sees the options after every other plugin has
// configured them, as the client that is built from them does.

// settings are the client options Once reads back: those of the SDK client
// it triggers through, as that client was built.
type settings struct {
	namespace     string
	dataConverter converter.DataConverter
	identity      string // of Once's own calls; the SDK client's when set
}

// onceStartMethod is the full gRPC method name of the starts Once adjusts.
const onceStartMethod = "/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution"

// Dial connects to Temporal with copts — the options the service would give
// client.Dial: host, namespace, credentials, data converter and codec,
// failure converter, context propagators, interceptors, plugins — and
// returns a Client that triggers tasks in opts.Environment through it.
// Temporal returns the SDK client, for workers (worker.New takes the Client)
// and for anything else the service does with Temporal. Close closes it.
//
// Errors: invalid opts (nothing is dialed; see New's list); a setting Once
// cannot honour (ErrUnsupportedClientOption); the SDK's dial error.
func Dial(ctx context.Context, copts client.Options, opts Options) (*Client, error) {
	return dial(opts, copts, func(o client.Options) (client.Client, error) { return client.DialContext(ctx, o) })
}

// NewLazy is Dial without connecting: the connection is made on the first
// call (client.NewLazyClient).
//
// Errors: those of Dial, less the dial's.
func NewLazy(copts client.Options, opts Options) (*Client, error) {
	return dial(opts, copts, client.NewLazyClient)
}

// ErrUnsupportedClientOption: a client.Options setting that Once cannot
// honour on every path it reads or writes payloads; the error names it.
var ErrUnsupportedClientOption = errors.New("starter: client option not supported")

func dial(opts Options, copts client.Options, connect func(client.Options) (client.Client, error)) (*Client, error) {
	opts, env, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	p := &settingsPlugin{}
	copts.Plugins = append(copts.Plugins[:len(copts.Plugins):len(copts.Plugins)], p)
	sdk, err := connect(copts)
	if err != nil {
		return nil, fmt.Errorf("starter: %w", err)
	}
	// The SDK calls every plugin's ConfigureClient before it builds the
	// client, so p has read the settings.
	c := newClient(sdk, p.got, opts, env)
	c.owned = true
	return c, nil
}

// settingsPlugin reads the client's settings and adds Once's gRPC
// interceptor to its connection.
type settingsPlugin struct {
	client.PluginBase
	got settings
}

func (*settingsPlugin) Name() string { return "once.starter" }

// ConfigureClient reads the options as the client is built from them, after
// every other plugin, and refuses those Once cannot honour before anything
// is dialed.
func (p *settingsPlugin) ConfigureClient(_ context.Context, o client.PluginConfigureClientOptions) error {
	co := o.ClientOptions
	if len(co.ExternalStorage.Drivers) > 0 {
		return fmt.Errorf("%w: client.Options.ExternalStorage: Once reads run memos and inputs itself and cannot follow external payload references; leave it unset for the client Once dials", ErrUnsupportedClientOption)
	}
	s := settings{namespace: co.Namespace, dataConverter: co.DataConverter, identity: co.Identity}
	if s.namespace == "" {
		s.namespace = client.DefaultNamespace
	}
	if s.identity == "" {
		// What the SDK client makes of an empty identity is not exported;
		// Once's own calls (terminations) say who made them.
		host, _ := os.Hostname()
		s.identity = fmt.Sprintf("%d@%s@once", os.Getpid(), host)
	}
	if s.dataConverter == nil {
		s.dataConverter = converter.GetDefaultDataConverter()
	}
	p.got = s
	do := co.ConnectionOptions.DialOptions
	co.ConnectionOptions.DialOptions = append(do[:len(do):len(do)], grpc.WithChainUnaryInterceptor(startInterceptor))
	return nil
}

func (p *settingsPlugin) NewClient(ctx context.Context, o client.PluginNewClientOptions, next func(context.Context, client.PluginNewClientOptions) error) error {
	if o.FromExisting != nil {
		return errors.New("starter: Once's plugin cannot wrap an existing client's connection: use starter.Dial with the client's options")
	}
	return next(ctx, o)
}

// startCall is what Once adds to one start; it rides in the context of the
// ExecuteWorkflow call to startInterceptor.
type startCall struct {
	requestID string
	header    map[string]*commonpb.Payload // added where the start has no such field
}

type startCallKey struct{}

// startInterceptor gives a start that Once makes its request ID and header
// fields.
func startInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	call, _ := ctx.Value(startCallKey{}).(*startCall)
	start, ok := req.(*workflowservice.StartWorkflowExecutionRequest)
	if call == nil || !ok || method != onceStartMethod {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	start.RequestId = call.requestID
	if len(call.header) > 0 {
		if start.Header == nil {
			start.Header = &commonpb.Header{}
		}
		if start.Header.Fields == nil {
			start.Header.Fields = make(map[string]*commonpb.Payload, len(call.header))
		}
		for k, v := range call.header {
			if _, set := start.Header.Fields[k]; !set {
				start.Header.Fields[k] = v
			}
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}
