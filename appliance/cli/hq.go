package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"outpost/appliance/hq"
	"outpost/appliance/phonehome"
	"outpost/firmware/bundle"
	"outpost/firmware/provision"
)

func init() {
	Register(Command{Name: "hq", Summary: "the MSP's phone-home receiver: run, register, list, send", Run: hqCmd})
	Register(Command{Name: "phonehome", Summary: "phone home: status (queue depth, last success, last error)", Run: phonehomeCmd})
}

const hqUsage = `hq <subcommand>

  hq run      --cert hq.pem --key hq-key.pem [--listen :8444] [--ui-listen 127.0.0.1:8445] [--data DIR]
  hq register (--receipt outpost-receipt-ob-….json | --box ob-… --key ed25519:…) [--site NAME] [--data DIR]
  hq list     [--data DIR]
  hq send     --box ob-… (--bundle FILE | --inventory) [--data DIR]`

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
	}
	return Usagef("unknown subcommand %q\n\nUsage: outpost %s", args[0], hqUsage)
}

func hqDataFlag(fs interface {
	String(name, value, usage string) *string
}) *string {
	return fs.String("data", "./hq-data", "the receiver's data directory")
}

func hqRun(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "hq run", "hq run --cert FILE --key FILE [flags]")
	data := hqDataFlag(fs)
	listen := fs.String("listen", ":8444", "HTTPS address boxes post summaries to")
	uiListen := fs.String("ui-listen", "127.0.0.1:8445", "fleet page address (plain HTTP: keep it on loopback or behind a reverse proxy with authentication)")
	cert := fs.String("cert", "", "the receiver's TLS certificate (PEM)")
	key := fs.String("key", "", "its private key (PEM)")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if *cert == "" || *key == "" {
		return Usagef("hq run needs --cert and --key")
	}
	return hq.Run(ctx, hq.RunOptions{DataDir: *data, Listen: *listen, UIListen: *uiListen, CertFile: *cert, KeyFile: *key, Log: slog.New(slog.NewTextHandler(env.Stderr, nil))})
}

func hqRegister(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "hq register", "hq register (--receipt FILE | --box ID --key KEY) [--site NAME] [--data DIR]")
	data := hqDataFlag(fs)
	receipt := fs.String("receipt", "", "a receipt a box wrote to its provisioning stick")
	box := fs.String("box", "", "box id (ob-...)")
	key := fs.String("key", "", "the box's public key (ed25519:...), from `outpost bundle status` on the box")
	site := fs.String("site", "", "site name (default: from the receipt, then from its summaries)")
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
	var b hq.Box
	if err := Control(ctx, *data, "POST", "/boxes", hq.RegisterRequest{ID: *box, Key: *key, Site: *site}, &b); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "registered box %s (site %q)\n", b.ID, b.Site)
	return nil
}

func hqList(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "hq list", "hq list [--data DIR]")
	data := hqDataFlag(fs)
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	var boxes []hq.Box
	if err := Control(ctx, *data, "GET", "/boxes", nil, &boxes); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BOX\tSITE\tLAST SEEN\tLAST SEQ\tSUMMARIES\tDUPLICATES\tLOST\tCRITICAL\tOPEN")
	now := time.Now()
	for _, b := range boxes {
		seen := "never"
		if !b.LastSeen.IsZero() {
			seen = b.LastSeen.Local().Format("2006-01-02 15:04:05")
			if b.Silent(now) {
				seen += " (silent)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", b.ID, dash(b.Site), seen, b.LastSeq, b.Summaries, b.Duplicates, b.Lost, b.Health.Critical, b.Open)
	}
	return tw.Flush()
}

func hqSend(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "hq send", "hq send --box ID (--bundle FILE | --inventory) [--data DIR]")
	data := hqDataFlag(fs)
	box := fs.String("box", "", "the box")
	bundleFile := fs.String("bundle", "", "a signed provisioning bundle to deliver in the box's next reply")
	inv := fs.Bool("inventory", false, "ask the box for a full inventory")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if *box == "" || (*bundleFile == "" && !*inv) {
		return Usagef("hq send needs --box and --bundle or --inventory")
	}
	var req hq.QueueRequest
	req.Inventory = *inv
	if *bundleFile != "" {
		b, err := os.ReadFile(*bundleFile)
		if err != nil {
			return err
		}
		if _, err := bundle.Parse(b); err != nil {
			return fmt.Errorf("%s: %w", *bundleFile, err)
		}
		req.Bundle = b
	}
	if err := Control(ctx, *data, "POST", "/boxes/"+*box+"/queue", req, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "queued for box %s's next summary\n", *box)
	return nil
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
	fmt.Fprintf(env.Stdout, "receiver:     %s\nqueue:        %d summaries, %d bytes (quota %d), next seq %d\nlast success: %s (summary %d)\n",
		st.URL, st.Depth, st.Bytes, st.Quota, st.NextSeq, at(st.LastSuccess), st.LastAck)
	if st.LastError != "" {
		fmt.Fprintf(env.Stdout, "last error:   %s: %s\nfailures:     %d in a row, next attempt %s\n", at(st.LastErrorAt), st.LastError, st.Failures, at(st.NextAttempt))
	}
	fmt.Fprintf(env.Stdout, "lost:         %d summaries (outbox quota)", st.Lost)
	if l := st.LostDetail; l.Total > 0 {
		fmt.Fprintf(env.Stdout, ", seq %d-%d, holding %d closed incidents and %d new, %d gone, %d changed devices (counts sent on)",
			l.FirstSeq, l.LastSeq, l.IncidentsClosed, l.InventoryNew, l.InventoryGone, l.InventoryChanged)
	}
	fmt.Fprintf(env.Stdout, "\nduplicates:   %d acknowledged as already received\n", st.Duplicates)
	return nil
}
