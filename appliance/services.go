package appliance

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// service is one of the daemon's run loops.
type service struct {
	name string
	// run runs until its context ends; an error stops the daemon.
	run func(ctx context.Context) error
	// toTheEnd services keep running after Run's context ends, until
	// their turn in the stop order: the others use them while they stop
	// (the store, stopped last, flushes what they wrote).
	toTheEnd bool
}

// runServices starts services in order and runs them until ctx ends or
// one fails, then stops them in reverse order. Every service that runs
// on ctx is told at once, so stopping takes the slowest one's grace and
// not the sum; they are waited for in reverse order, and each toTheEnd
// service is cancelled only when its turn comes, after everything
// started after it has returned. It returns the first error a service
// returned. started is called once everything has started.
func runServices(ctx context.Context, log *slog.Logger, services []service, started func()) error {
	ctx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	var (
		errMu    sync.Mutex
		firstErr error
	)
	type running struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	rs := make([]running, len(services))
	for i, s := range services {
		sctx, cancel := ctx, context.CancelFunc(func() {})
		if s.toTheEnd {
			sctx, cancel = context.WithCancel(context.WithoutCancel(ctx))
		}
		rs[i] = running{cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(rs[i].done)
			if err := s.run(sctx); err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
				stopAll() // a listener failing stops everything, as the end of ctx does
			}
		}()
	}
	if started != nil {
		started()
	}
	<-ctx.Done()
	for i := len(rs) - 1; i >= 0; i-- {
		rs[i].cancel()
		<-rs[i].done
		log.Debug("stopped", "service", services[i].name)
	}
	errMu.Lock()
	defer errMu.Unlock()
	return firstErr
}

// loop makes a service of a loop that returns nothing.
func loop(f func(ctx context.Context)) func(context.Context) error {
	return func(ctx context.Context) error { f(ctx); return nil }
}

// closeAtStop makes a service that closes something when it is stopped.
func closeAtStop(close func()) func(context.Context) error {
	return func(ctx context.Context) error { <-ctx.Done(); close(); return nil }
}

// shutdownGrace is how long requests in flight have to finish once the
// daemon stops.
const shutdownGrace = 5 * time.Second

// serveHTTP serves srv on ln until ctx ends, then shuts it down:
// requests in flight get shutdownGrace to finish.
func serveHTTP(srv *http.Server, ln net.Listener) func(context.Context) error {
	return func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- serve(srv, ln) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		shut, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		srv.Shutdown(shut)
		return <-errc
	}
}

func serve(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
