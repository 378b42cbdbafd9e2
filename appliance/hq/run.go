package hq

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"outpost/appliance/phonehome/wire"
	hqui "outpost/ui/hq"
)

// RunOptions configure `outpost hq run`.
type RunOptions struct {
	// DataDir holds the control socket, and the bbolt store unless DB
	// names a PostgreSQL database (postgres://…), which several
	// instances, each with its own DataDir, then share.
	DataDir string
	DB      string
	// Listen is the HTTPS address boxes post to; CertFile and KeyFile
	// its certificate.
	Listen, CertFile, KeyFile string
	// UIListen is the fleet pages' address (plain HTTP, loopback by
	// default; behind a TLS reverse proxy set UISecure).
	UIListen string
	// Hosts are the host names the fleet pages answer to besides
	// localhost and IP literals.
	Hosts    []string
	UISecure bool
	// PublicURL is where technicians reach Listen (https): the boxes'
	// acknowledge links point there (Options.PublicURL).
	PublicURL string
	// Limits bound what is kept per box and read at once (zero fields:
	// DefaultLimits).
	Limits Limits
	// MaxConns bounds the open ingest connections (default 2048); more
	// wait in the kernel's accept queue.
	MaxConns int
	Log      *slog.Logger
	// AuthHeader and AuthProxies: single sign-on by a reverse proxy
	// (hqui.Options).
	AuthHeader  string
	AuthProxies []netip.Prefix
	// MetricsListen serves /metrics (plain HTTP, no login: keep it on
	// loopback or a monitoring network); "" serves none.
	MetricsListen string
	// Watch configures the watcher (silent boxes and the other MSP
	// alerts, notified through its channels and policies).
	Watch Watch
	// Ready is told the bound addresses.
	Ready func(ingest, ui string)
}

// Run serves until ctx ends: ingest over HTTPS, the fleet pages, and
// the control socket that `outpost hq register|list|send|user` use.
func Run(ctx context.Context, o RunOptions) error {
	if o.MaxConns <= 0 {
		o.MaxConns = 2048
	}
	if err := os.MkdirAll(o.DataDir, 0o750); err != nil {
		return err
	}
	opts := Options{Log: o.Log, Limits: o.Limits, PublicURL: o.PublicURL}
	var s *Server
	if o.DB != "" {
		db, err := OpenPostgres(ctx, o.DB, nil)
		if err != nil {
			return err
		}
		if s, err = OpenStore(db, opts); err != nil {
			db.Close()
			return err
		}
	} else {
		var err error
		if s, err = OpenWith(filepath.Join(o.DataDir, "hq.db"), opts); err != nil {
			return err
		}
	}
	defer s.Close()
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return fmt.Errorf("hq certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("hq certificate %s: %w", o.CertFile, err)
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return err
	}
	uln, err := net.Listen("tcp", o.UIListen)
	if err != nil {
		ln.Close()
		return err
	}
	var mln net.Listener
	if o.MetricsListen != "" {
		if mln, err = net.Listen("tcp", o.MetricsListen); err != nil {
			ln.Close()
			uln.Close()
			return fmt.Errorf("--metrics-listen: %w", err)
		}
	}
	sock := filepath.Join(o.DataDir, "control.sock")
	os.Remove(sock)
	cln, err := net.Listen("unix", sock)
	if err != nil {
		ln.Close()
		uln.Close()
		return err
	}
	os.Chmod(sock, 0o600)
	// What a connection can make the receiver hold is small and fixed:
	// 32 KiB of headers, and over HTTP/2 a 64 KiB window for the bodies
	// of all its streams (a summary is a few KiB; the gate admits the
	// body before it is read). Boxes send every few minutes, so an idle
	// connection is not kept long.
	ingest := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: s.lim.UploadTimeout + 10*time.Second,
		IdleTimeout: 30 * time.Second, MaxHeaderBytes: 32 << 10,
		HTTP2:     &http.HTTP2Config{MaxConcurrentStreams: 16, MaxReceiveBufferPerConnection: 64 << 10, MaxReceiveBufferPerStream: 64 << 10},
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	pages := http.NewServeMux()
	pages.Handle("/api/", s.APIHandler())
	pages.Handle("/", hqui.New(hqui.Options{Source: s, Users: s, Hosts: o.Hosts, Secure: o.UISecure, Log: s.log, Limits: s.LoginLimits(),
		AuthHeader: o.AuthHeader, AuthProxies: o.AuthProxies}))
	ui := &http.Server{Handler: pages,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	ctl := &http.Server{Handler: s.controlMux(), ReadHeaderTimeout: 10 * time.Second}
	if o.Ready != nil {
		o.Ready(ln.Addr().String(), uln.Addr().String())
	}
	if n, err := s.CountUsers(); err == nil && n == 0 {
		s.log.Warn("hq: the fleet pages have no account yet: outpost hq user add NAME --data " + o.DataDir)
	}
	s.log.Info("outpost hq running", "ingest", "https://"+ln.Addr().String()+"/v1/summaries", "fleet", "http://"+uln.Addr().String(), "data", o.DataDir, "store", s.db.Name(),
		"pin_sha256", wire.PinOf(leaf).String(), "ack_pages", s.publicURL) // what a box's phonehome.pin_sha256 names
	go s.sweepEvery(ctx, time.Hour)
	go s.RunWatch(ctx, o.Watch)
	servers := 3
	errc := make(chan error, 4)
	if mln != nil {
		servers++
		msrv := &http.Server{Handler: s.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- Serve(ctx, msrv, func() error { return msrv.Serve(mln) }) }()
		s.log.Info("hq: metrics", "url", "http://"+mln.Addr().String()+"/metrics")
	}
	lln := &limitListener{Listener: ln, sem: make(chan struct{}, o.MaxConns)}
	go func() { errc <- Serve(ctx, ingest, func() error { return ingest.ServeTLS(lln, "", "") }) }()
	go func() { errc <- Serve(ctx, ui, func() error { return ui.Serve(uln) }) }()
	go func() { errc <- Serve(ctx, ctl, func() error { return ctl.Serve(cln) }) }()
	var first error
	for range servers {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *Server) sweepEvery(ctx context.Context, every time.Duration) {
	t := s.clock.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			if err := s.Sweep(); err != nil {
				s.log.Error("hq: retention sweep", "err", err)
			}
			t.Reset(every)
		}
	}
}

// limitListener holds at most cap(sem) connections open; Accept waits
// for one to close beyond that.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: sync.OnceFunc(func() { <-l.sem })}, nil
}

type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// BoxDetail is the answer to GET /boxes/{id}?history=N: the box's
// record (with its commands) and its newest N stored summaries.
type BoxDetail struct {
	Box     Box            `json:"box"`
	History []HistoryEntry `json:"history"`
}

// UserRequest is the body of POST /users.
type UserRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	// Replace sets a new password for an existing account.
	Replace bool `json:"replace,omitempty"`
	// Role and Sites: see hqui.User.
	Role  string   `json:"role,omitempty"`
	Sites []string `json:"sites,omitempty"`
}

func (s *Server) controlMux() http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any, err error) {
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(v)
	}
	decode := func(w http.ResponseWriter, r *http.Request, v any) error {
		return json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20)).Decode(v)
	}
	mux.HandleFunc("GET /boxes", func(w http.ResponseWriter, r *http.Request) {
		b, err := s.Boxes()
		reply(w, b, err)
	})
	mux.HandleFunc("GET /boxes/{id}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("history"))
		if err != nil || n < 0 {
			n = 50
		}
		h, b, ok, err := s.History(r.PathValue("id"), min(n, 10_000))
		if err == nil && !ok {
			err = fmt.Errorf("no box %q is registered", r.PathValue("id"))
		}
		reply(w, BoxDetail{Box: b, History: h}, err)
	})
	mux.HandleFunc("POST /boxes", func(w http.ResponseWriter, r *http.Request) {
		var req RegisterRequest
		if err := decode(w, r, &req); err != nil {
			reply(w, nil, err)
			return
		}
		reg, err := s.RegisterBox(req)
		if err == nil {
			s.log.Info("hq: box registered", "box", reg.Box.ID, "site", reg.Box.Site, "key", reg.KeyID, "new", reg.New)
		}
		reply(w, reg, err)
	})
	mux.HandleFunc("POST /boxes/{id}/queue", func(w http.ResponseWriter, r *http.Request) {
		var req QueueRequest
		if err := decode(w, r, &req); err != nil {
			reply(w, nil, err)
			return
		}
		c, err := s.Queue(r.PathValue("id"), req)
		if err == nil {
			s.log.Info("hq: command queued", "box", r.PathValue("id"), "command", c.ID, "what", c.What)
		}
		reply(w, c, err)
	})
	mux.HandleFunc("GET /users", func(w http.ResponseWriter, r *http.Request) {
		u, err := s.ListUsers()
		reply(w, u, err)
	})
	mux.HandleFunc("POST /users", func(w http.ResponseWriter, r *http.Request) {
		var req UserRequest
		if err := decode(w, r, &req); err != nil {
			reply(w, nil, err)
			return
		}
		err := s.AddAccount(req)
		if err == nil {
			s.log.Info("hq: fleet page account set", "user", req.Name, "new_password_for_existing", req.Replace)
		}
		reply(w, map[string]string{"user": req.Name}, err)
	})
	mux.HandleFunc("POST /tokens", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Name string }
		if err := decode(w, r, &req); err != nil {
			reply(w, nil, err)
			return
		}
		tok, err := s.AddToken(req.Name)
		if err == nil {
			s.log.Info("hq: API token made", "token", req.Name)
		}
		reply(w, map[string]string{"name": req.Name, "token": tok}, err)
	})
	mux.HandleFunc("GET /tokens", func(w http.ResponseWriter, r *http.Request) {
		t, err := s.Tokens()
		reply(w, t, err)
	})
	mux.HandleFunc("DELETE /tokens/{name}", func(w http.ResponseWriter, r *http.Request) {
		err := s.DeleteToken(r.PathValue("name"))
		if err == nil {
			s.log.Info("hq: API token deleted", "token", r.PathValue("name"))
		}
		reply(w, map[string]string{"deleted": r.PathValue("name")}, err)
	})
	mux.HandleFunc("DELETE /users/{name}", func(w http.ResponseWriter, r *http.Request) {
		err := s.DeleteUser(r.PathValue("name"))
		if err == nil {
			s.log.Info("hq: fleet page account deleted", "user", r.PathValue("name"))
		}
		reply(w, map[string]string{"deleted": r.PathValue("name")}, err)
	})
	return mux
}
