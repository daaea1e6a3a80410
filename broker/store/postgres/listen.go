package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/internal/logfield"
)

// listenPing is how long Listen waits for a notification before it checks
// that its connection is alive (a connection lost without a reset would
// otherwise be noticed only by TCP keepalives, minutes later).
const listenPing = 15 * time.Second

// Listen wakes a reader of the change cursor when Updates commit audit
// events, on this broker or any other sharing the database. It holds a
// connection of its own (not one of the pool's) listening on the store's
// channel, and calls wake on Listen's goroutine:
//
//   - once as soon as it listens, with the cursor of the last event
//     committed then: every event committed before it listened is at or
//     below that cursor, and every later commit wakes it again. A reader
//     that reads from its own last position on each wake (never from the
//     cursor wake is given, a hint) therefore misses nothing, even across
//     a lost connection;
//   - then once for each notification, with the cursor of the last event
//     of that commit. Notifications carry positions only; the events are
//     read from the table (AuditTx.ListAuditChanges).
//
// It returns ctx.Err() when ctx ends, errClosed after Close, and another
// error when the connection is lost or could not be set up; the caller
// resynchronises by calling Listen again (with a pause between attempts).
func (s *Store) Listen(ctx context.Context, wake func(cursor registry.ChangeCursor)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	select {
	case <-s.closing:
		return errClosed
	default:
	}
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()

	cc := s.pool.Config().ConnConfig.Copy()
	// A deadline, not a cancel request, interrupts the wait for a
	// notification: the connection stays usable after a timed-out wait.
	cc.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: pc.Conn()}
	}
	// Named, so that an operator (or a test) can tell listeners apart.
	cc.RuntimeParams["application_name"] = listenerName(s.channel)
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return s.listenErr(ctx, fmt.Errorf("postgres: listening: connecting: %w", err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return s.listenErr(ctx, fmt.Errorf("postgres: listening: %w", err))
	}
	var last int64
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM audit_events`).Scan(&last); err != nil {
		return s.listenErr(ctx, fmt.Errorf("postgres: listening: reading the last cursor: %w", err))
	}
	wake(registry.ChangeCursor(last))
	for {
		wctx, wcancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		wcancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return s.listenErr(ctx, err)
		case wctx.Err() != nil && !conn.IsClosed():
			// Nothing for a while: make sure the connection still answers.
			if err := conn.Ping(ctx); err != nil {
				return s.listenErr(ctx, fmt.Errorf("postgres: listening: connection lost: %w", err))
			}
			continue
		default:
			return s.listenErr(ctx, fmt.Errorf("postgres: listening: connection lost: %w", err))
		}
		c, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil || c <= 0 {
			// Not ours (someone else's NOTIFY on the channel): still a
			// reason to look, with no position to hint.
			s.log.Warn("postgres: a notification without a cursor on the changes channel", zap.String(logfield.Channel, n.Channel))
			c = 0
		}
		wake(registry.ChangeCursor(c))
	}
}

// listenerName is the application_name of a listener on channel.
func listenerName(channel string) string { return "edgetrust-listen:" + channel }

// listenErr is the error Listen returns: errClosed after Close, ctx's own
// error when the caller's context ended, else err.
func (s *Store) listenErr(ctx context.Context, err error) error {
	select {
	case <-s.closing:
		return errClosed
	default:
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}
