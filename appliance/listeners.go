package appliance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"outpost/appliance/config"
)

// The web UI and the status endpoint follow the config in force: a new
// address (or plain HTTP turned on or off) moves the listener at once,
// without a restart. A provisioning bundle or a UI edit that moves the UI
// is obeyed while the daemon runs, so the ack links a new config makes
// point where the box listens. A command-line address (--ui-listen,
// --listen) pins its listener: the config then cannot move it.

// place is where a listener is wanted: an address and, for the UI,
// whether it is plain HTTP. The zero place is "off".
type place struct {
	addr  string
	plain bool
}

func (p place) String() string {
	switch {
	case p.addr == "":
		return "off"
	case p.plain:
		return "http://" + p.addr
	}
	return "https://" + p.addr
}

// wantUI is where cfg wants the web UI.
func (a *Appliance) wantUI(cfg *config.Config) place {
	if cfg.UI.Disabled {
		return place{}
	}
	addr := cfg.UI.Listen
	if a.o.UIListen != "" {
		addr = a.o.UIListen
	}
	return place{addr: addr, plain: cfg.UI.PlainHTTP}
}

// wantStatus is where cfg wants the status endpoint.
func (a *Appliance) wantStatus(cfg *config.Config) place {
	if a.o.Listen != "" {
		return place{addr: a.o.Listen, plain: true}
	}
	return place{addr: cfg.Listen, plain: true}
}

// openUI listens for the web UI at p: HTTPS with the box's certificate
// unless p is plain (loopback only, the config's rule).
func (a *Appliance) openUI(p place) (net.Listener, error) {
	if err := config.CheckUIListen(p.addr, p.plain); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return nil, err
	}
	if !p.plain {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{a.cert}, MinVersion: tls.VersionTLS12})
	}
	return ln, nil
}

// moveListeners wakes the movable listeners after a new config is in
// force; each looks whether it must move.
func (a *Appliance) moveListeners() {
	for _, c := range []chan struct{}{a.uiMoved, a.statusMoved} {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// movable is an HTTP service whose listener a config change may move.
type movable struct {
	name  string
	moved <-chan struct{}
	// want is where the config in force wants it.
	want func() place
	// open listens at a place.
	open func(place) (net.Listener, error)
	// server makes the server for the listener in force.
	server func() (*http.Server, error)
	// current and set read and record the listener in force.
	current func() (net.Listener, place)
	set     func(net.Listener, place)
}

// runMovable serves m until ctx ends, moving it when told. A new place
// that cannot be used (port taken, no permission) leaves the service
// where it was, with an error in the log; the next config change tries
// again.
func (a *Appliance) runMovable(ctx context.Context, m movable) error {
	var srv *http.Server
	errc := make(chan error, 1)
	start := func() error {
		ln, _ := m.current()
		if ln == nil {
			srv = nil
			return nil
		}
		s, err := m.server()
		if err != nil {
			return err
		}
		srv = s
		go func() {
			if err := serve(s, ln); err != nil {
				errc <- err
			}
		}()
		return nil
	}
	stop := func() {
		if srv == nil {
			return
		}
		shut, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		srv.Shutdown(shut)
		srv = nil
	}
	if err := start(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			stop()
			return nil
		case err := <-errc:
			stop()
			return fmt.Errorf("%s: %w", m.name, err)
		case <-m.moved:
		}
		want := m.want()
		old, cur := m.current()
		if want == cur {
			continue
		}
		ln, at, err := a.moveTo(m, want, old, cur, stop)
		if err != nil {
			a.log.Error(m.name+" cannot move: the configured place cannot be used", "running", cur.String(), "configured", want.String(), "now", at.String(), "err", err)
		}
		if ln == old && at == cur {
			continue // nothing moved
		}
		m.set(ln, at)
		if err := start(); err != nil {
			return err
		}
		if at != cur {
			a.log.Info(m.name+" moved", "from", cur.String(), "to", at.String())
		}
	}
}

// moveTo opens the listener for want and returns it with where it is
// (nil and the zero place: off), and why want could not be used. A new
// address is opened before the old one closes, so a failure leaves the
// service as it was. On the same address (plain HTTP turned on or off)
// the old listener must close first; if the new one then fails, the old
// place is opened again.
func (a *Appliance) moveTo(m movable, want place, old net.Listener, cur place, stop func()) (net.Listener, place, error) {
	if want.addr == "" {
		stop()
		return nil, place{}, nil
	}
	if want.addr != cur.addr {
		ln, err := m.open(want)
		if err != nil {
			return old, cur, err
		}
		stop()
		return ln, want, nil
	}
	stop()
	ln, err := m.open(want)
	if err == nil {
		return ln, want, nil
	}
	back, berr := m.open(cur)
	if berr != nil {
		return nil, place{}, errors.Join(err, fmt.Errorf("reopening %s: %w", cur, berr))
	}
	return back, cur, err
}

// uiService is the web UI as a movable service.
func (a *Appliance) uiService() movable {
	return movable{
		name: "web UI", moved: a.uiMoved,
		want:   func() place { return a.wantUI(a.Config()) },
		open:   a.openUI,
		server: a.uiServer,
		current: func() (net.Listener, place) {
			a.mu.RLock()
			defer a.mu.RUnlock()
			return a.uiLn, a.uiPlace
		},
		set: func(ln net.Listener, p place) {
			a.mu.Lock()
			a.uiLn, a.uiPlace, a.uiTLS = ln, p, ln != nil && !p.plain
			a.mu.Unlock()
		},
	}
}

// statusService is the status endpoint as a movable service.
func (a *Appliance) statusService() movable {
	return movable{
		name: "status endpoint", moved: a.statusMoved,
		want: func() place { return a.wantStatus(a.Config()) },
		open: func(p place) (net.Listener, error) { return net.Listen("tcp", p.addr) },
		server: func() (*http.Server, error) {
			return &http.Server{Handler: a.statusMux(), ReadHeaderTimeout: 5 * time.Second}, nil
		},
		current: func() (net.Listener, place) {
			a.mu.RLock()
			defer a.mu.RUnlock()
			return a.status, a.statusPlace
		},
		set: func(ln net.Listener, p place) {
			a.mu.Lock()
			a.status, a.statusPlace = ln, p
			a.mu.Unlock()
		},
	}
}

// runTraps runs the SNMP trap receiver the config in force asks for,
// and moves it when traps.listen changes: the old socket closes, the new
// one binds (a port that cannot be bound is logged and the receiver
// stays off until the next change; monitoring goes on).
func (a *Appliance) runTraps(ctx context.Context) error {
	return runReceiver(ctx, a.trapsMoved, func() func(context.Context) error {
		if tr := a.startTraps(); tr != nil {
			return tr.Run
		}
		return nil
	}, func() {
		a.mu.Lock()
		a.traps, a.trapsListen = nil, ""
		a.mu.Unlock()
		if ctx.Err() == nil {
			a.log.Info("SNMP trap receiver moving", "to", a.Config().Traps.Listen)
		}
	})
}

// runReceiver runs what start makes for the config in force (nil:
// nothing to run) until ctx ends, and again each time moved says its
// addresses changed; stopped runs after each one has ended. A receiver
// that ends by itself ends the service with its error.
func runReceiver(ctx context.Context, moved <-chan struct{}, start func() func(context.Context) error, stopped func()) error {
	for {
		run := start()
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		if run != nil {
			go func() { done <- run(rctx) }()
		}
		select {
		case <-ctx.Done():
		case <-moved:
		case err := <-done:
			cancel()
			return err
		}
		cancel()
		if run != nil {
			<-done
		}
		stopped()
		if ctx.Err() != nil {
			return nil
		}
	}
}
