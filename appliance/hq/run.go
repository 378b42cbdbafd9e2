package hq

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"outpost/appliance/phonehome/wire"
	hqui "outpost/ui/hq"
)

// Fleet is the fleet page's rows.
func (s *Server) Fleet() ([]hqui.FleetRow, error) {
	boxes, err := s.Boxes()
	now := s.clock.Now()
	out := make([]hqui.FleetRow, len(boxes))
	for i, b := range boxes {
		site := b.Site
		if site == "" {
			site = "(not heard from yet)"
		}
		out[i] = hqui.FleetRow{ID: b.ID, Site: site, Version: b.Version, Health: b.Health, Open: b.Open, LastSeen: b.LastSeen,
			Silent: b.Silent(now), Lost: b.Lost, Summaries: b.Summaries}
	}
	return out, err
}

// RunOptions configure `outpost hq run`.
type RunOptions struct {
	DataDir string
	// Listen is the HTTPS address boxes post to; CertFile and KeyFile
	// its certificate.
	Listen, CertFile, KeyFile string
	// UIListen is the fleet page's address (plain HTTP; loopback by
	// default: put a reverse proxy with authentication in front to
	// share it).
	UIListen string
	Log      *slog.Logger
	// Ready is told the bound addresses.
	Ready func(ingest, ui string)
}

// Run serves until ctx ends: ingest over HTTPS, the fleet page, and the
// control socket that `outpost hq register|list|send` use.
func Run(ctx context.Context, o RunOptions) error {
	if err := os.MkdirAll(o.DataDir, 0o750); err != nil {
		return err
	}
	s, err := Open(filepath.Join(o.DataDir, "hq.db"), nil, o.Log)
	if err != nil {
		return err
	}
	defer s.Close()
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return fmt.Errorf("hq certificate: %w", err)
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
	sock := filepath.Join(o.DataDir, "control.sock")
	os.Remove(sock)
	cln, err := net.Listen("unix", sock)
	if err != nil {
		ln.Close()
		uln.Close()
		return err
	}
	os.Chmod(sock, 0o600)
	ingest := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	ui := &http.Server{Handler: hqui.Handler(s, nil), ReadHeaderTimeout: 10 * time.Second}
	ctl := &http.Server{Handler: s.controlMux(), ReadHeaderTimeout: 10 * time.Second}
	if o.Ready != nil {
		o.Ready(ln.Addr().String(), uln.Addr().String())
	}
	s.log.Info("outpost hq running", "ingest", "https://"+ln.Addr().String()+"/v1/summaries", "fleet", "http://"+uln.Addr().String(), "data", o.DataDir)
	errc := make(chan error, 3)
	go func() { errc <- Serve(ctx, ingest, func() error { return ingest.ServeTLS(ln, "", "") }) }()
	go func() { errc <- Serve(ctx, ui, func() error { return ui.Serve(uln) }) }()
	go func() { errc <- Serve(ctx, ctl, func() error { return ctl.Serve(cln) }) }()
	var first error
	for range 3 {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// RegisterRequest is the body of POST /boxes.
type RegisterRequest struct {
	ID, Key, Site string
}

// QueueRequest is the body of POST /boxes/{id}/queue.
type QueueRequest struct {
	Bundle    []byte               `json:"bundle,omitempty"`
	Firmware  *wire.FirmwareNotice `json:"firmware,omitempty"`
	Inventory bool                 `json:"inventory,omitempty"`
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
	mux.HandleFunc("GET /boxes", func(w http.ResponseWriter, r *http.Request) {
		b, err := s.Boxes()
		reply(w, b, err)
	})
	mux.HandleFunc("POST /boxes", func(w http.ResponseWriter, r *http.Request) {
		var req RegisterRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			reply(w, nil, err)
			return
		}
		b, err := s.Register(req.ID, req.Key, req.Site)
		if err == nil {
			s.log.Info("hq: box registered", "box", b.ID, "site", b.Site)
		}
		reply(w, b, err)
	})
	mux.HandleFunc("POST /boxes/{id}/queue", func(w http.ResponseWriter, r *http.Request) {
		var req QueueRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			reply(w, nil, err)
			return
		}
		err := s.Queue(r.PathValue("id"), func(p *Pending) {
			if len(req.Bundle) > 0 {
				p.Bundle = req.Bundle
			}
			if req.Firmware != nil {
				p.Firmware = req.Firmware
			}
			p.Inventory = p.Inventory || req.Inventory
		})
		reply(w, map[string]string{"queued": r.PathValue("id")}, err)
	})
	return mux
}
