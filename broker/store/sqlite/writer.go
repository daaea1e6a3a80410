package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// Group commit.
//
// One writer goroutine owns the writer connection. It takes the Updates
// queued while it was busy, and those that queue while it runs them (up to
// maxBatch in all), and runs them in one SQLite transaction:
//
//	BEGIN IMMEDIATE
//	for each Update, in queue order:
//	    SAVEPOINT u; run fn; RELEASE u           (fn returned nil)
//	    SAVEPOINT u; run fn; ROLLBACK TO u; RELEASE u (fn failed or panicked)
//	COMMIT                                     (one WAL fsync for the batch)
//
// and only after COMMIT tells each Update the outcome: a nil Update is
// durable. Each fn sees the writes of the fns before it, as if they had run
// one after another; a failing fn undoes its own writes only. Its error can
// rest on what the earlier fns wrote (a use limit they spent, a token they
// consumed), so it too is answered only after the COMMIT — at once only when
// no earlier fn of the batch wrote anything. When COMMIT fails, every Update
// of the batch that waited for it fails with that error.
//
// fn itself runs on its caller's goroutine: the writer hands the
// transaction over (request.turn), waits until fn is done (request.ran) and
// goes on. So a panic in fn, or runtime.Goexit (t.FailNow in a test), stays
// in the caller's goroutine: the writer sees fn end abnormally, undoes its
// writes and carries on with the batch.
//
// When a savepoint statement fails, SQLite may have rolled back the whole
// transaction; the batch is then abandoned: the Updates whose fn already
// succeeded fail, the ones not yet run go to the next batch.

// maxBatch bounds the Updates of one transaction, so that the first of them
// does not wait behind too many others.
const maxBatch = 128

// Request states: the writer claims a queued request before running it;
// its caller, when ctx ends first, cancels it and returns ctx.Err().
const (
	stateQueued int32 = iota
	stateClaimed
	stateCanceled
)

// request is one Update, or one raw job on the writer connection.
type request struct {
	ctx context.Context
	fn  func(registry.Tx) error
	// raw, when set, runs outside any transaction on the writer connection
	// (migrations and test helpers) instead of fn.
	raw   func(ctx context.Context, c *dbConn) error
	state atomic.Int32
	turn  chan *tx       // writer -> caller: run fn now
	ran   chan fnOutcome // caller -> writer: fn is done
	done  chan error     // writer -> caller: the Update's result
}

type fnOutcome struct {
	err      error
	abnormal bool // fn panicked or called runtime.Goexit
}

// claim marks r as taken by the writer; false when its caller gave up.
func (r *request) claim() bool { return r.state.CompareAndSwap(stateQueued, stateClaimed) }

// update queues r and waits for its outcome, running r.fn when its turn
// comes.
func (s *Store) update(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.ctx = ctx
	r.turn = make(chan *tx, 1)
	r.ran = make(chan fnOutcome, 1)
	r.done = make(chan error, 1)
	s.sending.Add(1)
	select {
	case s.queue <- r:
	case <-ctx.Done():
		s.sending.Add(-1)
		return ctx.Err()
	case <-s.closing:
		s.sending.Add(-1)
		return errClosed
	}
	s.sending.Add(-1)
	var t *tx
	select {
	case t = <-r.turn:
	case err := <-r.done:
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(stateQueued, stateCanceled) {
			return ctx.Err()
		}
		// The writer has it: wait for the outcome.
		select {
		case t = <-r.turn:
		case err := <-r.done:
			return err
		}
	}
	runFn(r, t)
	return <-r.done
}

// runFn runs r.fn on t and reports to the writer how it ended. A panic goes
// on after the report.
func runFn(r *request, t *tx) {
	out := fnOutcome{abnormal: true}
	defer func() {
		t.done.Store(true)
		r.ran <- out
	}()
	err := r.fn(t)
	out = fnOutcome{err: err}
}

// writeLoop is the writer goroutine. It returns when the Store is closing
// and no Update it took is left.
func (s *Store) writeLoop() {
	defer close(s.writerDone)
	var pending []*request
	for {
		if len(pending) == 0 {
			select {
			case r := <-s.queue:
				pending = append(pending, r)
			case <-s.closing:
				return
			}
		}
	gather:
		for len(pending) < maxBatch {
			select {
			case r := <-s.queue:
				pending = append(pending, r)
			default:
				break gather
			}
		}
		pending = s.runBatch(pending)
	}
}

// internal runs a statement of the writer's own (BEGIN, SAVEPOINT, ...).
// It ignores every caller's context: none of them may interrupt it.
func (s *Store) internal(query string) error {
	_, err := s.wc.exec(context.Background(), query)
	return err
}

// runBatch runs the leading Updates of batch, and more from the queue, in
// one transaction (or its first raw job alone) and returns the requests it
// did not get to.
func (s *Store) runBatch(batch []*request) []*request {
	if r := batch[0]; r.raw != nil {
		if r.claim() {
			r.done <- r.raw(context.WithoutCancel(r.ctx), s.wc)
		}
		return batch[1:]
	}
	if err := s.internal("BEGIN IMMEDIATE"); err != nil {
		err = fmt.Errorf("sqlite: begin: %w", err)
		// Make sure no transaction is left open for the next batch.
		_ = s.internal("ROLLBACK")
		n := 0
		for n < len(batch) && batch[n].raw == nil {
			if r := batch[n]; r.claim() {
				r.done <- err
			}
			n++
		}
		return batch[n:]
	}
	s.batchSeq++
	var ok []*request    // fn returned nil; they learn the COMMIT's outcome
	var failed []failure // fn failed after earlier fns wrote: answered after the COMMIT
	abandon := func(err error) {
		if rerr := s.internal("ROLLBACK"); rerr != nil {
			s.log.Error("sqlite: rollback of an abandoned batch", zap.Error(rerr))
		}
		err = fmt.Errorf("sqlite: transaction abandoned: %w", err)
		for _, r := range ok {
			r.done <- err
		}
		for _, f := range failed {
			f.r.done <- err
		}
	}
	for i := 0; ; i++ {
		if i == len(batch) {
			// Take an Update that queued meanwhile into this transaction:
			// it shares the COMMIT instead of waiting for the next one.
			if len(batch) == maxBatch {
				break
			}
			select {
			case r := <-s.queue:
				batch = append(batch, r)
			default:
			}
			if i == len(batch) {
				break
			}
		}
		r := batch[i]
		if r.raw != nil {
			s.commit(ok, failed)
			return batch[i:]
		}
		if !r.claim() {
			continue
		}
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		if err := s.internal("SAVEPOINT u"); err != nil {
			r.done <- fmt.Errorf("sqlite: savepoint: %w", err)
			abandon(err)
			return batch[i+1:]
		}
		t := &tx{ctx: r.ctx, qctx: context.WithoutCancel(r.ctx), c: s.wc, batch: s.batchSeq}
		r.turn <- t
		out := <-r.ran
		if out.err == nil && !out.abnormal {
			if err := s.internal("RELEASE u"); err != nil {
				r.done <- fmt.Errorf("sqlite: release savepoint: %w", err)
				abandon(err)
				return batch[i+1:]
			}
			ok = append(ok, r)
			continue
		}
		err := s.internal("ROLLBACK TO u")
		if err == nil {
			err = s.internal("RELEASE u")
		}
		if !out.abnormal {
			// fn's writes are undone either way (by SQLite when the
			// savepoint is gone with the whole transaction).
			if len(ok) == 0 {
				r.done <- out.err // it saw only committed data
			} else {
				failed = append(failed, failure{r, out.err})
			}
		}
		if err != nil {
			// SQLite ends the whole transaction itself on some failures of
			// fn's writes (SQLITE_FULL): the Updates before it are lost
			// for the same cause, which their error carries too.
			abandon(fmt.Errorf("%w (after: %w)", err, out.err))
			return batch[i+1:]
		}
	}
	s.commit(ok, failed)
	return nil
}

// failure is an Update whose fn failed, waiting for its batch's COMMIT.
type failure struct {
	r   *request
	err error
}

// commit ends the open transaction and tells the Updates of ok and failed:
// those of failed get their fn's error once the COMMIT holds, the COMMIT's
// error otherwise.
func (s *Store) commit(ok []*request, failed []failure) {
	if len(ok) == 0 {
		// failed is empty too: a failure is held back only after a success.
		// Nothing was written: no need for an fsync.
		if err := s.internal("ROLLBACK"); err != nil {
			s.log.Error("sqlite: rollback of an empty batch", zap.Error(err))
		}
		return
	}
	err := s.internal("COMMIT")
	s.commits.Add(1)
	if err != nil {
		err = fmt.Errorf("sqlite: commit: %w", err)
		if rerr := s.internal("ROLLBACK"); rerr != nil {
			s.log.Error("sqlite: rollback after a failed commit", zap.Error(rerr))
		}
	}
	for _, r := range ok {
		r.done <- err
	}
	for _, f := range failed {
		if err != nil {
			f.r.done <- err
		} else {
			f.r.done <- f.err
		}
	}
}

// onWriter runs f on the writer connection outside any transaction, between
// batches.
func (s *Store) onWriter(ctx context.Context, f func(ctx context.Context, c *sql.Conn) error) error {
	return s.update(ctx, &request{raw: func(ctx context.Context, c *dbConn) error { return f(ctx, c.conn) }})
}
