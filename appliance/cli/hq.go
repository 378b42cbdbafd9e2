package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"outpost/appliance/config"
	"outpost/appliance/hq"
	"outpost/appliance/phonehome"
	"outpost/checks"
	"outpost/firmware/bundle"
	"outpost/firmware/provision"
	"outpost/notify"
)

func init() {
	Register(Command{Name: "hq", Summary: "the MSP's phone-home receiver: run, register, list, send, user, token, migrate", Run: hqCmd})
	Register(Command{Name: "phonehome", Summary: "phone home: status (queue depth, last success, last error)", Run: phonehomeCmd})
}

const hqUsage = `hq <subcommand>

  hq run      --cert hq.pem --key hq-key.pem [--listen :8444] [--ui-listen 127.0.0.1:8445] [--host NAME]... [--data DIR] [flags]
  hq register (--receipt outpost-receipt-ob-….json | --box ob-… --key ed25519:…) [--site NAME] [--replace-key] [--data DIR]
  hq list     [--box ob-… [--history N]] [--data DIR]
  hq send     --box ob-… (--bundle FILE | --firmware notice.json | --inventory) [--data DIR]
  hq user     (add | passwd | delete) NAME [--data DIR]   (the password is read from standard input)
  hq user     list [--data DIR]
  hq token    (add | delete) NAME [--data DIR], hq token list [--data DIR]   (bearer tokens for the HTTP API, docs/hq-api.yaml)
  hq migrate  --from DIR (--to postgres://… | --to-file FILE)   (hq stopped: copies the bbolt store into an empty PostgreSQL database)`

func hqCmd(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return Usagef("missing subcommand\n\nUsage: outpost %s", hqUsage)
	}
	switch args[0] {
	case "run":
		return hqRun(ctx, env, args[1:])
	case "register":
		return hqRegister(ctx, env, args[1:])
	case "list":
		return hqList(ctx, env, args[1:])
	case "send":
		return hqSend(ctx, env, args[1:])
	case "user":
		return hqUser(ctx, env, args[1:])
	case "migrate":
		return hqMigrate(ctx, env, args[1:])
	case "token":
		return hqToken(ctx, env, args[1:])
	}
	return Usagef("unknown subcommand %q\n\nUsage: outpost %s", args[0], hqUsage)
}

func hqDataFlag(fs interface {
	String(name, value, usage string) *string
}) *string {
	return fs.String("data", "./hq-data", "the receiver's data directory")
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// sizeFlag is a size flag ("256MiB", "2GB", bytes).
type sizeFlag int64

func (f *sizeFlag) String() string { return fmt.Sprint(int64(*f)) }
func (f *sizeFlag) Set(v string) error {
	n, err := checks.ParseBytes(v)
	if err != nil {
		return err
	}
	if n > 1<<62 {
		return fmt.Errorf("%q is too large", v)
	}
	*f = sizeFlag(n)
	return nil
}

func hqRun(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "hq run", "hq run --cert FILE --key FILE [flags]")
	data := hqDataFlag(fs)
	db := fs.String("db", "", "a PostgreSQL database (postgres://user@host:port/db; the password from PGPASSWORD or a PGPASSFILE, not here: the command line is visible to every local user) shared by every instance; default: bbolt in --data")
	dbFile := fs.String("db-file", "", "read the --db URL (password included) from this file, readable by its owner only")
	listen := fs.String("listen", ":8444", "HTTPS address boxes post summaries to")
	uiListen := fs.String("ui-listen", "127.0.0.1:8445", "fleet pages' address (plain HTTP with a login: keep it on loopback or behind a TLS reverse proxy)")
	cert := fs.String("cert", "", "the receiver's TLS certificate (PEM)")
	key := fs.String("key", "", "its private key (PEM)")
	var hosts listFlag
	fs.Var(&hosts, "host", "a host name the fleet pages answer to, besides localhost and IP addresses (repeatable; other Host headers get 421)")
	uiSecure := fs.Bool("ui-secure", false, "mark the fleet pages' cookies Secure (a TLS reverse proxy serves them)")
	publicURL := fs.String("public-url", "", "https address where technicians reach this receiver's --listen port (e.g. https://hq.example.net:8444): boxes' acknowledge links then point here, so they work off-site")
	d := hq.DefaultLimits
	maxSummaries := fs.Int("box-max-summaries", d.BoxSummaries, "summaries kept per box; beyond, the oldest go")
	maxBytes := sizeFlag(d.BoxBytes)
	fs.Var(&maxBytes, "box-max-bytes", "bytes of summaries kept per box (e.g. 256MiB); beyond, the oldest go")
	retention := fs.Duration("retention", d.Retention, "how long a summary is kept (e.g. 9600h)")
	notifyFile := fs.String("notify", "", "a YAML file with a notify: section (channels, policies, people, oncall: as in a box's config, docs/notifications.md) through which hq's alerts about boxes (silent, lost summaries, box health) go out")
	authHeader := fs.String("auth-header", "", "single sign-on: trust this request header (e.g. X-Forwarded-User) to name the logged-in user, from --auth-proxy addresses only; the user needs an account")
	var authProxies listFlag
	fs.Var(&authProxies, "auth-proxy", "an address or CIDR of the reverse proxy that sets --auth-header (repeatable; default loopback)")
	metricsListen := fs.String("metrics-listen", "", "serve /metrics (hq's own health and one series set per box, for Prometheus) on this address, plain HTTP without login: loopback or a monitoring network (default: none)")
	remoteWrite := fs.String("remote-write", "", "push the fleet series to this Prometheus remote-write endpoint (e.g. https://prometheus.msp.lan/api/v1/write; Prometheus needs --web.enable-remote-write-receiver), from the instance that runs the watcher")
	remoteWriteFile := fs.String("remote-write-file", "", "read the --remote-write URL from this file, readable by its owner only (for a URL with user:password@: not on the command line)")
	remoteEvery := fs.Duration("remote-write-every", time.Minute, "how often --remote-write pushes")
	watchEvery := fs.Duration("watch-every", 10*time.Second, "how often hq looks for silent boxes and the other alerts")
	uploadMem := sizeFlag(d.UploadBytes)
	fs.Var(&uploadMem, "upload-memory", "request bodies read at once, all boxes together (e.g. 64MiB); beyond, 503 with Retry-After")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if *cert == "" || *key == "" {
		return Usagef("hq run needs --cert and --key")
	}
	for _, h := range hosts {
		if h == "" || strings.ContainsAny(h, ":/ ") {
			return Usagef("--host %q: a host name, without port or scheme", h)
		}
	}
	dbURL, err := dbFlags(*db, *dbFile)
	if err != nil {
		return err
	}
	var proxies []netip.Prefix
	for _, p := range authProxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return Usagef("--auth-proxy %q: an address or CIDR", p)
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		proxies = append(proxies, pfx)
	}
	if len(proxies) > 0 && *authHeader == "" {
		return Usagef("--auth-proxy without --auth-header")
	}
	if *watchEvery < 100*time.Millisecond {
		return Usagef("--watch-every %s: at least 100ms", *watchEvery)
	}
	watch := hq.Watch{Every: *watchEvery}
	if *remoteWriteFile != "" {
		if *remoteWrite != "" {
			return Usagef("--remote-write and --remote-write-file: one or the other")
		}
		if *remoteWrite, err = ownerOnlyFile("--remote-write-file", *remoteWriteFile, "the store's password"); err != nil {
			return err
		}
	} else if u, err := url.Parse(*remoteWrite); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			return Usagef("--remote-write: a URL with a password is visible to every local user on the command line; put it in a file for --remote-write-file (mode 600)")
		}
	}
	if *remoteWrite != "" {
		if err := hq.CheckRemoteWriteURL(*remoteWrite); err != nil {
			return Usagef("%v", err)
		}
		if *remoteEvery < time.Second {
			return Usagef("--remote-write-every %s: at least 1s", *remoteEvery)
		}
		watch.RemoteWrite = hq.RemoteWrite{URL: *remoteWrite, Every: *remoteEvery}
	}
	if *notifyFile != "" {
		// Its channels hold SMTP passwords and webhook tokens.
		if err := ownerOnly("--notify", *notifyFile, "its channels' passwords and tokens"); err != nil {
			return err
		}
		// The box's own config rules: strict, file:line errors, the same
		// notify section with its validation.
		cfg, err := config.Load(*notifyFile)
		if err != nil {
			return err
		}
		nc := notify.ConfigOf(cfg)
		if watch.Channels, err = nc.Build(); err != nil {
			return fmt.Errorf("%s: %w", *notifyFile, err)
		}
		watch.Policies, watch.People, watch.OnCalls = nc.Policies, nc.People, nc.OnCalls()
	}
	return hq.Run(ctx, hq.RunOptions{DataDir: *data, DB: dbURL, Listen: *listen, UIListen: *uiListen, CertFile: *cert, KeyFile: *key,
		Hosts: hosts, UISecure: *uiSecure, PublicURL: *publicURL, Watch: watch, MetricsListen: *metricsListen, AuthHeader: *authHeader, AuthProxies: proxies,
		Limits: hq.Limits{BoxSummaries: *maxSummaries, BoxBytes: int64(maxBytes), Retention: *retention, UploadBytes: int64(uploadMem)},
		Log:    slog.New(slog.NewTextHandler(env.Stderr, nil))})
}

// dbFlags is the database --db or --db-file names: a postgres:// URL,
// or "" for bbolt. The file must be its owner's alone: it may hold the
// password.
// ownerOnlyFile reads a one-line secret file (a URL with a password)
// that flag names, refusing one others may read: a secret must not be on
// the command line, which every local user sees, nor in a file they can
// read.
func ownerOnlyFile(flag, file, holds string) (string, error) {
	if err := ownerOnly(flag, file, holds); err != nil {
		return "", err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s %s: empty", flag, file)
	}
	return v, nil
}

// ownerOnly refuses a secret file that flag names when others may read it.
func ownerOnly(flag, file, holds string) error {
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s %s: readable by others (mode %v); chmod 600 it: it may hold %s", flag, file, st.Mode().Perm(), holds)
	}
	return nil
}

func dbFlags(db, file string) (string, error) {
	if db != "" && file != "" {
		return "", Usagef("--db and --db-file: one or the other")
	}
	if file != "" {
		var err error
		if db, err = ownerOnlyFile("--db-file", file, "the database password"); err != nil {
			return "", err
		}
	}
	if db != "" && !strings.HasPrefix(db, "postgres://") && !strings.HasPrefix(db, "postgresql://") {
		return "", Usagef("--db: a postgres:// URL (bbolt is the default, in --data)")
	}
	return db, nil
}

func hqToken(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "delete" && args[0] != "list") {
		return Usagef("usage: outpost hq token (add | delete) NAME [--data DIR], or hq token list [--data DIR]")
	}
	sub := args[0]
	fs := NewFlags(env, "hq token "+sub, "hq token "+sub+" NAME [--data DIR]")
	data := hqDataFlag(fs)
	rest := args[1:]
	var name string
	if sub != "list" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	if err := Parse(fs, rest, false); err != nil {
		return err
	}
	switch sub {
	case "list":
		var toks []hq.APIToken
		if err := Control(ctx, *data, "GET", "/tokens", nil, &toks); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TOKEN\tCREATED")
		for _, t := range toks {
			fmt.Fprintf(tw, "%s\t%s\n", t.Name, localTime(t.Created))
		}
		return tw.Flush()
	case "add":
		if name == "" {
			return Usagef("hq token add needs a name")
		}
		var out struct{ Token string }
		if err := Control(ctx, *data, "POST", "/tokens", map[string]string{"name": name}, &out); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s\n", out.Token)
		fmt.Fprintf(env.Stderr, "API token %s made: send it as Authorization: Bearer <token>; it is shown only now (hq keeps its hash)\n", name)
		return nil
	}
	if name == "" {
		return Usagef("hq token delete needs a name")
	}
	if err := Control(ctx, *data, "DELETE", "/tokens/"+url.PathEscape(name), nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "deleted API token %s\n", name)
	return nil
}

func hqMigrate(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "hq migrate", "hq migrate --from DIR (--to postgres://… | --to-file FILE)")
	from := fs.String("from", "", "the data directory of an hq on bbolt (stopped)")
	to := fs.String("to", "", "an empty PostgreSQL database (postgres://user@host:port/db; the password from PGPASSWORD or a PGPASSFILE)")
	toFile := fs.String("to-file", "", "read the --to URL (password included) from this file, readable by its owner only")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	url, err := dbFlags(*to, *toFile)
	if err != nil {
		return err
	}
	if *from == "" || url == "" {
		return Usagef("hq migrate needs --from DIR and --to (or --to-file)")
	}
	path := filepath.Join(*from, "hq.db")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("--from %s: no hq store there: %w", *from, err)
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, nil))
	src, err := hq.OpenWith(path, hq.Options{Log: log})
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := hq.OpenPostgres(ctx, url, nil)
	if err != nil {
		return err
	}
	defer dst.Close()
	rep, err := hq.Migrate(src.Store(), dst, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "copied %d boxes, %d summaries (%d bytes), %d pending commands, %d accounts, %d sessions, %d alerts, tokens and notification records into PostgreSQL, and compared every box's summaries with the source\nrun hq with --db on that database from now on; %s is left as it was\n",
		rep.Boxes, rep.Summaries, rep.Bytes, rep.Commands, rep.Users, rep.Sessions, rep.Docs, path)
	return nil
}

func hqRegister(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "hq register", "hq register (--receipt FILE | --box ID --key KEY) [--site NAME] [--replace-key] [--data DIR]")
	data := hqDataFlag(fs)
	receipt := fs.String("receipt", "", "a receipt a box wrote to its provisioning stick")
	box := fs.String("box", "", "box id (ob-...)")
	key := fs.String("key", "", "the box's public key (ed25519:...), from `outpost bundle status` on the box")
	site := fs.String("site", "", "site name (default: from the receipt, then from its summaries)")
	replace := fs.Bool("replace-key", false, "replace the key a box is registered with (printing the old and new key ids)")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if *receipt != "" {
		b, err := os.ReadFile(*receipt)
		if err != nil {
			return err
		}
		var rc provision.Receipt
		if err := json.Unmarshal(b, &rc); err != nil || rc.BoxID == "" {
			return fmt.Errorf("%s is not a box receipt: %v", *receipt, err)
		}
		*box, *key = rc.BoxID, rc.BoxPublicKey
		if *site == "" {
			*site = rc.Site
		}
	}
	if *box == "" || *key == "" {
		return Usagef("hq register needs --receipt, or --box and --key")
	}
	var reg hq.Registration
	if err := Control(ctx, *data, "POST", "/boxes", hq.RegisterRequest{ID: *box, Key: *key, Site: *site, ReplaceKey: *replace}, &reg); err != nil {
		return err
	}
	switch {
	case reg.OldKeyID != "":
		fmt.Fprintf(env.Stdout, "replaced the key of box %s: old key id %s, new key id %s (site %q)\n", reg.Box.ID, reg.OldKeyID, reg.KeyID, reg.Box.Site)
	case reg.New:
		fmt.Fprintf(env.Stdout, "registered box %s (site %q), key id %s\n", reg.Box.ID, reg.Box.Site, reg.KeyID)
	default:
		fmt.Fprintf(env.Stdout, "box %s was registered already with this key (key id %s); site %q\n", reg.Box.ID, reg.KeyID, reg.Box.Site)
	}
	if *receipt != "" && reg.New {
		// A receipt is a file anyone can write: the key is bound to the id,
		// so it cannot take over another box, but check that this is the
		// box on site.
		fmt.Fprintf(env.Stdout, "check that the box on site shows box id %s (outpost bundle status, or its settings page)\n", reg.Box.ID)
	}
	return nil
}

func hqList(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "hq list", "hq list [--box ID [--history N]] [--data DIR]")
	data := hqDataFlag(fs)
	box := fs.String("box", "", "one box: its commands and the history of its summaries, built and received")
	hist := fs.Int("history", 50, "with --box: how many of the newest summaries to list")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if *box != "" {
		return hqListBox(ctx, env, *data, *box, *hist)
	}
	var boxes []hq.Box
	if err := Control(ctx, *data, "GET", "/boxes", nil, &boxes); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BOX\tSITE\tLAST SEEN\tLAST SUMMARY\tLAST SEQ\tSUMMARIES\tDUPLICATES\tLOST\tCRITICAL\tOPEN\tCONFLICTS\tMISSING\tPENDING")
	now := time.Now()
	for _, b := range boxes {
		seen := localTime(b.LastSeen)
		if !b.LastSeen.IsZero() && b.Silent(now) {
			seen += " (silent)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", b.ID, dash(b.Site), seen, localTime(b.LastStored), b.LastSeq, b.Summaries, b.Duplicates, b.Lost, b.Health.Critical, b.Open, b.Conflicts, b.Missing(), b.PendingCommands())
	}
	return tw.Flush()
}

func localTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// hqListBox prints one box's commands and its newest summaries, when
// each was built (the box's clock) and received (the receiver's), with
// the silences between them.
func hqListBox(ctx context.Context, env *Env, data, id string, n int) error {
	var d hq.BoxDetail
	if err := Control(ctx, data, "GET", fmt.Sprintf("/boxes/%s?history=%d", url.PathEscape(id), max(n, 0)), nil, &d); err != nil {
		return err
	}
	b := d.Box
	fmt.Fprintf(env.Stdout, "box:          %s (site %s)\nversion:      %s\nlast seen:    %s\nlast summary: %s (seq %d)\n", b.ID, dash(b.Site), dash(b.Version), localTime(b.LastSeen), localTime(b.LastStored), b.LastSeq)
	if f := b.LastFirmware; f != nil {
		fmt.Fprintf(env.Stdout, "firmware:     %s %s (%s)\n", f.Result, f.Detail, localTime(f.Time))
	}
	if len(b.Commands) > 0 {
		fmt.Fprintln(env.Stdout, "\ncommands (each goes with every reply until a summary from the box confirms it):")
		tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCOMMAND\tQUEUED\tSENT\tSTATE\tDETAIL")
		for _, c := range b.Commands {
			state := "pending"
			switch {
			case c.Result == hq.Superseded:
				state = "superseded " + localTime(c.Closed)
			case !c.Pending():
				state = fmt.Sprintf("%s (summary %d, %s)", c.Result, c.Seq, localTime(c.Closed))
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", c.ID, c.What, localTime(c.Queued), c.Sent, state, dash(c.Detail))
		}
		tw.Flush()
	}
	fmt.Fprintln(env.Stdout, "\nsummaries (built by the box's clock, received by the receiver's), newest first:")
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tBUILT\tRECEIVED\tREASON\tCRITICAL\tOPEN\tCLOSED")
	for _, h := range d.History {
		rec := localTime(h.Received)
		if h.SilentBefore > 0 {
			rec += fmt.Sprintf(" (after %s silent)", h.SilentBefore.Round(time.Second))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\n", h.Seq, localTime(h.Built), rec, h.Reason, h.Health.Critical, h.Open, h.Closed)
	}
	return tw.Flush()
}

func hqSend(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "hq send", "hq send --box ID (--bundle FILE | --firmware notice.json | --inventory) [--data DIR]")
	data := hqDataFlag(fs)
	box := fs.String("box", "", "the box")
	bundleFile := fs.String("bundle", "", "a signed provisioning bundle to deliver in the box's next reply")
	noticeFile := fs.String("firmware", "", "a signed firmware notice (outpost bundle notice): the box downloads and applies the update")
	inv := fs.Bool("inventory", false, "ask the box for a full inventory")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	given := 0
	for _, set := range []bool{*bundleFile != "", *noticeFile != "", *inv} {
		if set {
			given++
		}
	}
	if *box == "" || given == 0 {
		return Usagef("hq send needs --box and --bundle, --firmware or --inventory")
	}
	if given > 1 {
		return Usagef("hq send takes one of --bundle, --firmware and --inventory, one command at a time")
	}
	req := hq.QueueRequest{Inventory: *inv, What: "full inventory"}
	if *noticeFile != "" {
		n, err := readNotice(*noticeFile)
		if err != nil {
			return err
		}
		req.Firmware, req.What = n, "firmware "+n.Version
	}
	if *bundleFile != "" {
		b, err := os.ReadFile(*bundleFile)
		if err != nil {
			return err
		}
		bd, err := bundle.Parse(b)
		if err != nil {
			return fmt.Errorf("%s: %w", *bundleFile, err)
		}
		req.Bundle, req.What = b, fmt.Sprintf("bundle v%d (site %s)", bd.Version, bd.Site)
	}
	var c hq.Command
	if err := Control(ctx, *data, "POST", "/boxes/"+url.PathEscape(*box)+"/queue", req, &c); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "queued command %d (%s) for box %s: it goes with every reply until a summary from the box confirms it (hq list --box %s)\n", c.ID, c.What, *box, *box)
	return nil
}

func hqUser(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return Usagef("usage: outpost hq user (add | passwd | delete) NAME [--data DIR], or hq user list [--data DIR]")
	}
	sub := args[0]
	fs := NewFlags(env, "hq user "+sub, "hq user "+sub+" NAME [--role admin|technician|viewer] [--site NAME]... [--data DIR]")
	data := hqDataFlag(fs)
	role := fs.String("role", "", "add, passwd: admin (every site; the default for a new account), technician (acknowledges on the sites it sees) or viewer (only looks)")
	var sites listFlag
	fs.Var(&sites, "site", "add, passwd: a site (its name, or its box id) a technician or viewer sees; repeatable; none: every site")
	if sub == "list" {
		if err := Parse(fs, args[1:], false); err != nil {
			return err
		}
		var users []hq.UserInfo
		if err := Control(ctx, *data, "GET", "/users", nil, &users); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tROLE\tSITES\tCREATED\tSESSIONS")
		for _, u := range users {
			seen := "all"
			if len(u.Sites) > 0 && u.Role != "admin" {
				seen = strings.Join(u.Sites, ", ")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", u.Name, u.Role, seen, u.Created.Local().Format("2006-01-02 15:04"), u.Sessions)
		}
		return tw.Flush()
	}
	if sub != "add" && sub != "passwd" && sub != "delete" {
		return Usagef("unknown subcommand %q: hq user add | passwd | delete | list", sub)
	}
	// The name comes first (hq user add alice --data DIR) or after the flags.
	rest := args[1:]
	var name string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	if err := Parse(fs, rest, true); err != nil {
		return err
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return Usagef("unexpected argument %q", fs.Arg(0))
	}
	if name == "" {
		return Usagef("hq user %s needs a user name", sub)
	}
	if sub == "delete" {
		if err := Control(ctx, *data, "DELETE", "/users/"+name, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "deleted user %s and ended their sessions\n", name)
		return nil
	}
	pw, err := readPassword(env, name)
	if err != nil {
		return err
	}
	if err := Control(ctx, *data, "POST", "/users", hq.UserRequest{Name: name, Password: pw, Replace: sub == "passwd", Role: *role, Sites: sites}, nil); err != nil {
		return err
	}
	if sub == "add" {
		fmt.Fprintf(env.Stdout, "created user %s for the fleet pages\n", name)
	} else {
		fmt.Fprintf(env.Stdout, "set a new password for %s and ended their sessions\n", name)
	}
	return nil
}

// readPassword reads a password from standard input: one line from a
// pipe or a file, or typed twice at a terminal (where it shows: keep
// such a terminal to yourself, or pipe it from a password manager).
func readPassword(env *Env, name string) (string, error) {
	in := bufio.NewReader(io.LimitReader(env.Stdin, 4096))
	line := func() (string, error) {
		s, err := in.ReadString('\n')
		if err != nil && (!errors.Is(err, io.EOF) || s == "") {
			return "", errors.New("no password on standard input")
		}
		return strings.TrimRight(s, "\r\n"), nil
	}
	f, ok := env.Stdin.(*os.File)
	tty := false
	if ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	if !tty {
		return line()
	}
	fmt.Fprintf(env.Stderr, "password for %s (shown as you type): ", name)
	pw, err := line()
	if err != nil {
		return "", err
	}
	fmt.Fprint(env.Stderr, "again: ")
	again, err := line()
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", errors.New("the two passwords differ")
	}
	return pw, nil
}

func phonehomeCmd(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "status" {
		return Usagef("usage: outpost phonehome status [--data DIR] [--json]")
	}
	fs := NewFlags(env, "phonehome status", "phonehome status [--data DIR] [--json]")
	data := DataDirFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := Parse(fs, args[1:], false); err != nil {
		return err
	}
	var st phonehome.Status
	if err := Control(ctx, *data, "GET", "/phonehome", nil, &st); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	at := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Local().Format("2006-01-02 15:04:05")
	}
	fmt.Fprintf(env.Stdout, "receiver:     %s\nqueue:        %d summaries, %d bytes (quota %d), next seq %d\n", st.URL, st.Depth, st.Bytes, st.Quota, st.NextSeq)
	if st.LastSuccess.IsZero() {
		fmt.Fprintln(env.Stdout, "last success: none yet (no summary acknowledged by this receiver)")
	} else {
		fmt.Fprintf(env.Stdout, "last success: %s (summary %d)\n", at(st.LastSuccess), st.LastAck)
	}
	// The next attempt: the time the backoff waits for; "now" while a
	// queued summary is being sent (or about to be after a restart);
	// nothing is tried while the queue is empty.
	next := "now"
	switch {
	case st.Depth == 0:
		next = "when a summary is queued"
	case !st.NextAttempt.IsZero():
		next = at(st.NextAttempt)
	}
	if st.LastError != "" {
		fmt.Fprintf(env.Stdout, "last error:   %s: %s\n", at(st.LastErrorAt), st.LastError)
		if st.Failures > 0 {
			fmt.Fprintf(env.Stdout, "failures:     %d in a row, next attempt: %s\n", st.Failures, next)
		} else {
			fmt.Fprintf(env.Stdout, "failures:     none since (a later attempt went through), next attempt: %s\n", next)
		}
	}
	if st.AckBase != "" {
		fmt.Fprintf(env.Stdout, "ack links:    %s/ack/… (the receiver relays acknowledgements)\n", st.AckBase)
	}
	fmt.Fprintf(env.Stdout, "lost:         %d summaries (outbox quota)", st.Lost)
	if l := st.LostDetail; l.Total > 0 {
		fmt.Fprintf(env.Stdout, ", seq %d-%d, holding %d closed incidents and %d new, %d gone, %d changed devices (counts sent on)",
			l.FirstSeq, l.LastSeq, l.IncidentsClosed, l.InventoryNew, l.InventoryGone, l.InventoryChanged)
	}
	fmt.Fprintf(env.Stdout, "\nduplicates:   %d acknowledged as already received\n", st.Duplicates)
	if st.Renumbered > 0 {
		fmt.Fprintf(env.Stdout, "renumbered:   %d times; last %s\n", st.Renumbered, st.LastRenumber)
	}
	for _, c := range st.Commands {
		fmt.Fprintf(env.Stdout, "command %d:    %s %s at %s: %s (reported until the receiver lets it go)\n", c.ID, dash(c.Kind), c.Result, at(c.Time), dash(c.Detail))
	}
	return nil
}
