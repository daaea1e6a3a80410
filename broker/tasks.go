package broker

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/internal/logfield"
)

// task is a long-lived part of the broker. run returns nil once ctx has
// ended and it has stopped, or an error when it cannot go on.
type task struct {
	name string
	run  func(ctx context.Context) error
}

// runTasks runs tasks together until ctx ends or one of them returns; then
// it cancels the others, waits for every one to stop, and returns the first
// error (named by its task), or nil after a clean stop. A task that returns
// nil before it was asked to stop counts as a failure: every part of the
// broker is meant to run until the end.
func runTasks(ctx context.Context, log *zap.Logger, tasks ...task) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		name string
		err  error
	}
	done := make(chan result, len(tasks))
	for _, t := range tasks {
		go func() { done <- result{t.name, t.run(ctx)} }()
	}
	var first error
	for range tasks {
		r := <-done
		if r.err == nil && ctx.Err() == nil {
			r.err = fmt.Errorf("stopped by itself")
		}
		if r.err != nil && first == nil {
			first = fmt.Errorf("%s: %w", r.name, r.err)
			log.Error("broker part failed; stopping the others", zap.String(logfield.Type, r.name), zap.Error(r.err))
		}
		cancel()
	}
	return first
}
