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

// poolResult is what runPool did.
type poolResult struct {
	elapsed time.Duration
	// busy is the time until the last success: rates use it, so that a
	// failure waiting out its timeout does not dilute them.
	busy   time.Duration
	ok     int
	failed int
	first  error // the first failure
}

// runPool calls fn(ctx, i) for i in [0, n) from conc goroutines and counts
// each success on p. It goes on after a failure while at most maxFail calls
// have failed; past that it stops and returns an error, as it does when
// ctx ends.
func runPool(parent context.Context, n, conc, maxFail int, p *progress, fn func(ctx context.Context, i int) error) (poolResult, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var (
		next atomic.Int64
		mu   sync.Mutex
		res  poolResult
		wg   sync.WaitGroup
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
				err := fn(ctx, i)
				mu.Lock()
				if err != nil {
					res.failed++
					if res.first == nil {
						res.first = fmt.Errorf("#%d: %w", i, err)
					}
					if res.failed > maxFail {
						cancel()
					}
				} else {
					res.ok++
					res.busy = max(res.busy, time.Since(start))
				}
				mu.Unlock()
				if err == nil && p != nil {
					p.add(1)
				}
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if res.failed > maxFail {
		return res, fmt.Errorf("%d of %d failed, first %w", res.failed, n, res.first)
	}
	if err := parent.Err(); err != nil {
		return res, err
	}
	return res, nil
}
