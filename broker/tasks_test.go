package broker

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// untilDone is a task body that runs until its context ends, counting the
// tasks that stopped.
func untilDone(stopped *atomic.Int32) func(context.Context) error {
	return func(ctx context.Context) error {
		<-ctx.Done()
		stopped.Add(1)
		return nil
	}
}

func TestRunTasks(t *testing.T) {
	t.Run("a failing task stops the others and names itself", func(t *testing.T) {
		var stopped atomic.Int32
		boom := errors.New("boom")
		err := runTasks(context.Background(), zap.NewNop(),
			task{"a", untilDone(&stopped)},
			task{"b", func(context.Context) error { return boom }},
			task{"c", untilDone(&stopped)},
		)
		if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "b: ") {
			t.Fatalf("err = %v, want b's error named", err)
		}
		if n := stopped.Load(); n != 2 {
			t.Fatalf("%d of 2 other tasks stopped", n)
		}
	})
	t.Run("a task that returns nil on its own is a failure", func(t *testing.T) {
		var stopped atomic.Int32
		err := runTasks(context.Background(), zap.NewNop(),
			task{"quitter", func(context.Context) error { return nil }},
			task{"a", untilDone(&stopped)},
		)
		if err == nil || !strings.Contains(err.Error(), "quitter: stopped by itself") {
			t.Fatalf("err = %v", err)
		}
		if stopped.Load() != 1 {
			t.Fatal("the other task did not stop")
		}
	})
	t.Run("the context ending stops every task cleanly", func(t *testing.T) {
		var stopped atomic.Int32
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			errc <- runTasks(ctx, zap.NewNop(), task{"a", untilDone(&stopped)}, task{"b", untilDone(&stopped)})
		}()
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Fatalf("err = %v, want nil after a clean stop", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("runTasks did not return after its context ended")
		}
		if stopped.Load() != 2 {
			t.Fatalf("%d of 2 tasks stopped", stopped.Load())
		}
	})
}
