//go:build nodev

package starterapp

// exampleTaskIDs is empty: this binary was built with -tags nodev (the
// production image), without the example tasks, so the completion of a task
// argument offers only those of --tasks (ONCE_TASKS).
func exampleTaskIDs() []string { return nil }
