//go:build linux

// Package pgtest runs a throwaway PostgreSQL server for tests: Debian's
// postgresql binaries (initdb, pg_ctl) on a data directory in a fresh
// temporary directory, listening on 127.0.0.1 only, with password
// (SCRAM) authentication. PostgreSQL refuses to run as root: when the
// tests do, the server runs as the unprivileged `postgres` user the
// Debian package creates, owning only its temporary directory.
package pgtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// Server is a running PostgreSQL cluster.
type Server struct {
	Dir      string
	Port     int
	User     string
	Password string
	bin      string
	cred     *syscall.Credential
	dbs      atomic.Int64
}

// BinDir finds the newest installed PostgreSQL's binaries, or "".
func BinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi < vj
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

// Start runs a cluster for the test and stops it when the test ends.
// Without PostgreSQL installed the test is skipped, or fails when CI is
// set (make test installs Debian's postgresql).
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := BinDir()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("PostgreSQL is not installed (make test installs Debian's postgresql)")
		}
		tb.Skip("PostgreSQL is not installed (apt-get install postgresql)")
	}
	dir, err := os.MkdirTemp("", "outpost-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Dir: dir, User: "outpost", bin: bin}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("the tests run as root and PostgreSQL will not: no unprivileged user postgres to run it as (%v)", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
	}
	pw := make([]byte, 16)
	rand.Read(pw)
	s.Password = hex.EncodeToString(pw)
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(s.Password+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	s.chown(tb, pwFile)
	data := filepath.Join(dir, "data")
	if out, err := s.run("initdb", "-D", data, "-U", s.User, "--auth=scram-sha-256", "--pwfile="+pwFile, "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	s.Port = freePort(tb)
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=200", s.Port, dir)
	if out, err := s.run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts, "-w", "-t", "120", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		tb.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	tb.Cleanup(func() { s.run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop") })
	return s
}

func (s *Server) chown(tb testing.TB, path string) {
	if s.cred != nil {
		if err := os.Chown(path, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			tb.Fatal(err)
		}
	}
}

func (s *Server) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), "PGPASSWORD="+s.Password, "LC_ALL=C")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd.CombinedOutput()
}

// URL is a connection URL for database db, password included.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", s.User, s.Password, s.Port, db)
}

// URLWithoutPassword is URL without the password (PGPASSWORD or a
// PGPASSFILE must then carry it).
func (s *Server) URLWithoutPassword(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", s.User, s.Port, db)
}

// NewDatabase creates an empty database and returns its name.
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d", s.dbs.Add(1))
	if out, err := s.run("createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", s.User, name); err != nil {
		tb.Fatalf("createdb: %v\n%s", err, out)
	}
	return name
}

// SQL runs statements with psql and returns what it printed (unaligned,
// tuples only).
func (s *Server) SQL(tb testing.TB, db, sql string) string {
	tb.Helper()
	out, err := s.run("psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", s.User, "-d", db, "-c", sql)
	if err != nil {
		tb.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

func freePort(tb testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
