package appliance

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
)

// TestRunServicesStopOrder: services start in order and stop in reverse;
// the ones on Run's context are told at once, and a toTheEnd service runs
// until everything started after it has returned; a failing service stops
// the rest and is the error.
func TestRunServicesStopOrder(t *testing.T) {
	var (
		mu      sync.Mutex
		stopped []string
	)
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	storeDown := make(chan struct{})
	svc := func(name string, toTheEnd bool) service {
		return service{name: name, toTheEnd: toTheEnd, run: func(ctx context.Context) error {
			<-ctx.Done()
			switch name {
			case "store":
				close(storeDown)
			case "scheduler":
				select {
				case <-storeDown:
					t.Error("the store stopped before the scheduler")
				default:
				}
			}
			mu.Lock()
			stopped = append(stopped, name)
			mu.Unlock()
			return nil
		}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	list := []service{svc("store", true), svc("notify", true), svc("ui", false), svc("scheduler", false)}
	if err := runServices(ctx, discard, list, cancel); err != nil {
		t.Fatal(err)
	}
	// ui and scheduler end together (Run's context); then notify, then the store.
	if len(stopped) != 4 || !slices.Contains(stopped[:2], "ui") || !slices.Contains(stopped[:2], "scheduler") || !slices.Equal(stopped[2:], []string{"notify", "store"}) {
		t.Fatalf("stop order %v", stopped)
	}

	boom := errors.New("listener gone")
	stopped = nil
	list = []service{svc("x", true), {name: "bad", run: func(context.Context) error { return boom }}, svc("y", false)}
	if err := runServices(context.Background(), discard, list, nil); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if !slices.Equal(stopped, []string{"y", "x"}) {
		t.Fatalf("after a failure: %v", stopped)
	}
}
