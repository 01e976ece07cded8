// Package worker wires Once's tasks into a Temporal worker: it registers the
// tasks and activities on the task queue of one environment.
//
// A worker of one environment never executes another environment's tasks: the
// environment is part of the task queue name (see Options.Environment).
package worker

import (
	"fmt"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/shared"
)

// DefaultEnvironment is the environment a worker serves when
// Options.Environment is empty.
const DefaultEnvironment = "dev"

// Options configures a Worker.
type Options struct {
	// Environment whose tasks this worker executes ("dev", "prod", …).
	// Optional: defaults to DefaultEnvironment.
	Environment string

	// TaskQueueBase is the prefix of the task queue; the queue is
	// "<base>-<environment>". Optional: defaults to "once".
	TaskQueueBase string

	// Workflows maps task IDs to workflow functions to register.
	// Optional: defaults to none.
	Workflows map[string]any

	// Worker is passed to the SDK worker. Optional: defaults to the SDK's.
	Worker sdkworker.Options
}

// Worker is a Temporal worker for one environment's tasks.
type Worker struct {
	sdk       sdkworker.Worker
	env       string
	taskQueue string
	tasks     []string
}

// New creates a worker on c. It does not poll until Start or Run.
//
// Errors: an invalid environment or task ID.
func New(c client.Client, opts Options) (*Worker, error) {
	if opts.Environment == "" {
		opts.Environment = DefaultEnvironment
	}
	if err := idempotency.ValidateEnvironment(opts.Environment); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	w := &Worker{env: opts.Environment, taskQueue: shared.TaskQueue(opts.TaskQueueBase, opts.Environment)}
	w.sdk = sdkworker.New(c, w.taskQueue, opts.Worker)
	for id, fn := range opts.Workflows {
		if err := idempotency.ValidateTaskID(id); err != nil {
			return nil, fmt.Errorf("worker: %w", err)
		}
		w.sdk.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: id})
		w.tasks = append(w.tasks, id)
	}
	return w, nil
}

// Environment is the environment this worker serves.
func (w *Worker) Environment() string { return w.env }

// TaskQueue is the task queue this worker polls.
func (w *Worker) TaskQueue() string { return w.taskQueue }

// Tasks lists the registered task IDs.
func (w *Worker) Tasks() []string { return w.tasks }

// Start starts polling in the background; Stop stops it.
func (w *Worker) Start() error { return w.sdk.Start() }

// Stop stops polling and waits for running tasks' current work to finish
// (up to the SDK's WorkerStopTimeout).
func (w *Worker) Stop() { w.sdk.Stop() }
