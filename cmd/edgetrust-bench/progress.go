package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progress reports a long phase on standard error: on a terminal one line
// rewritten every second, otherwise a line every five seconds.
type progress struct {
	w     io.Writer
	tty   bool
	name  string
	total int64
	n     atomic.Int64
	start time.Time
	stop  chan struct{}
	done  chan struct{}
}

func startProgress(w io.Writer, tty bool, name string, total int) *progress {
	p := &progress{w: w, tty: tty, name: name, total: int64(total), start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

func (p *progress) add(n int) { p.n.Add(int64(n)) }

func (p *progress) loop() {
	defer close(p.done)
	every := 5 * time.Second
	if p.tty {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.print(false)
		}
	}
}

func (p *progress) print(final bool) {
	n, el := p.n.Load(), time.Since(p.start)
	line := fmt.Sprintf("  %s: %d/%d in %.1fs (%.0f/s)", p.name, n, p.total, el.Seconds(), float64(n)/el.Seconds())
	switch {
	case p.tty && final:
		fmt.Fprintf(p.w, "\r\033[K%s\n", line)
	case p.tty:
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	default:
		fmt.Fprintln(p.w, line)
	}
}

// finish stops the reports and prints the final count.
func (p *progress) finish() {
	close(p.stop)
	<-p.done
	p.print(true)
}

// runPool calls fn(ctx, i) for i in [0, n) from conc goroutines and counts
// each success on p. It stops at the first error and returns it with the
// number of failures, and the time the successful calls took.
func runPool(parent context.Context, n, conc int, p *progress, fn func(ctx context.Context, i int) error) (time.Duration, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var (
		next     atomic.Int64
		mu       sync.Mutex
		first    error
		failures int
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range max(1, min(conc, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					failures++
					if first == nil {
						first = fmt.Errorf("#%d: %w", i, err)
					}
					mu.Unlock()
					cancel()
					return
				}
				if p != nil {
					p.add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if first != nil {
		return elapsed, fmt.Errorf("%d failed, first %w", failures, first)
	}
	if err := parent.Err(); err != nil {
		return elapsed, err
	}
	return elapsed, nil
}
