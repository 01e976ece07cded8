// Command clustersetup prepares a freshly started Temporal cluster for Once:
// it creates the namespace (or corrects its retention), registers Once's
// search attributes, and returns once the frontend accepts a workflow start.
// scripts/cluster runs it after starting the server processes; it is a
// development tool, not part of Once's API.
//
// It connects as the SDK's envconfig does (TEMPORAL_ADDRESS, TLS, API key,
// profiles). Every step is retried until -timeout: right after a cluster
// starts, or right after a namespace is created, the server answers
// Unavailable or NotFound for a moment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/once-run/once"
	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/worker"
)

func main() {
	namespace := flag.String("namespace", "", "namespace to create (default: TEMPORAL_NAMESPACE or \"default\")")
	retention := flag.Duration("retention", 30*24*time.Hour, "retention of closed workflows in the namespace")
	timeout := flag.Duration("timeout", 90*time.Second, "give up after this long")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	start := time.Now()
	if err := run(ctx, *namespace, *retention); err != nil {
		fmt.Fprintf(os.Stderr, "clustersetup: %v (after %s)\n", err, time.Since(start).Round(time.Millisecond))
		os.Exit(1)
	}
	fmt.Printf("clustersetup: ready after %s\n", time.Since(start).Round(time.Millisecond))
}

func run(ctx context.Context, namespace string, retention time.Duration) error {
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return fmt.Errorf("client options: %w", err)
	}
	if namespace != "" {
		opts.Namespace = namespace
	}
	if opts.Namespace == "" {
		opts.Namespace = client.DefaultNamespace
	}
	opts.Logger = shared.DiscardLogger()

	var c client.Client
	if err := retry(ctx, "connect", func(ctx context.Context) error {
		c, err = client.DialContext(ctx, opts)
		return err
	}); err != nil {
		return err
	}
	defer c.Close()

	if err := retry(ctx, "namespace "+opts.Namespace, func(ctx context.Context) error {
		return ensureNamespace(ctx, c, opts.Namespace, retention)
	}); err != nil {
		return err
	}
	if err := retry(ctx, "search attributes", func(ctx context.Context) error {
		return worker.EnsureSearchAttributes(ctx, c, opts.Namespace)
	}); err != nil {
		return err
	}
	return retry(ctx, "probe workflow start", func(ctx context.Context) error {
		return probe(ctx, c)
	})
}

// ensureNamespace registers namespace with retention, or updates the
// retention of an existing one.
func ensureNamespace(ctx context.Context, c client.Client, namespace string, retention time.Duration) error {
	svc := c.WorkflowService()
	desc, err := svc.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	var notFound *serviceerror.NamespaceNotFound
	switch {
	case errors.As(err, &notFound):
		_, err = svc.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        namespace,
			Description:                      "created by scripts/cluster for Once",
			WorkflowExecutionRetentionPeriod: durationpb.New(retention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if errors.As(err, &exists) {
			return nil
		}
		if err == nil {
			fmt.Printf("clustersetup: namespace %s created, retention %s\n", namespace, retention)
		}
		return err
	case err != nil:
		return err
	}
	if desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration() == retention {
		return nil
	}
	cfg := desc.GetConfig()
	cfg.WorkflowExecutionRetentionTtl = durationpb.New(retention)
	_, err = svc.UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{Namespace: namespace, Config: cfg})
	if err == nil {
		fmt.Printf("clustersetup: namespace %s retention set to %s\n", namespace, retention)
	}
	return err
}

// probe starts a workflow that no worker polls for, with Once's search
// attributes set as Once sets them, and terminates it: the cluster is ready
// when this succeeds.
func probe(ctx context.Context, c client.Client) error {
	id := fmt.Sprintf("once-cluster-probe-%d", time.Now().UnixNano())
	sa := temporal.NewSearchAttributes(
		temporal.NewSearchAttributeKeyKeyword(once.SearchAttrTask).ValueSet("cluster-probe"),
		temporal.NewSearchAttributeKeyKeyword(once.SearchAttrEnvironment).ValueSet("cluster-probe"),
		temporal.NewSearchAttributeKeyKeyword(once.SearchAttrKey).ValueSet(id),
	)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                "once-cluster-probe",
		WorkflowExecutionTimeout: time.Minute,
		TypedSearchAttributes:    sa,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, "OnceClusterProbe")
	if err != nil {
		return err
	}
	return c.TerminateWorkflow(ctx, run.GetID(), run.GetRunID(), "cluster probe")
}

// retry calls fn until it succeeds or ctx ends, each call bounded by 10 s.
func retry(ctx context.Context, what string, fn func(context.Context) error) error {
	var last error
	for {
		callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		last = fn(callCtx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
