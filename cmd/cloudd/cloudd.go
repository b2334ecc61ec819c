// Binary cloudd is lapsebox's central server: it receives the fleet's
// photos over tus (resumable uploads) and stores them under
// <root>/<device>/, receives each device's heartbeat, raises alerts
// (webhook, e-mail), and serves the fleet page to operators, each
// camera's live page, archive and daily time-lapse to its customers
// (behind public links), metrics to Prometheus and a JSON API to the
// Nagios check. SECURITY.md says what each endpoint exposes;
// docs/cloud.md how to run it.
//
// On one machine it needs nothing but a directory: its state is an
// embedded database under it, created on the first start with an
// operator account whose password it prints once.
//
//	cloudd -root /srv/lapsebox                      serve
//	cloudd -root /srv/lapsebox device add glacier-1 add a device, print its token once
//	cloudd -root /srv/lapsebox device list|remove NAME|token NAME
//	cloudd -root /srv/lapsebox operator add|password|list [NAME]
//	cloudd -config /etc/lapsebox/cloudd.json scrub [-rate BYTES]
//	                                                check and repair both copies of every photo now
//	cloudd -root /srv/lapsebox link add DEVICE [NOTE]  a public link to a camera's pages, printed once
//	cloudd -root /srv/lapsebox link list|revoke ID|revoke DEVICE
//
// For production, a configuration file (-config) names the addresses,
// TLS, a PostgreSQL database shared by several cloudd, the alerts'
// thresholds and channels, the photos' second copy (a directory or an S3
// bucket) and its scrubber; flags given on the command line override it.
// SIGHUP reloads the devices (they are also reloaded every 10 s).
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/cloud/gallery"
	"github.com/lapsebox/lapsebox/cloud/ingest"
	"github.com/lapsebox/lapsebox/cloud/operator"
	"github.com/lapsebox/lapsebox/cloud/server"
	"github.com/lapsebox/lapsebox/cloud/state"
)

var (
	configFile = flag.String("config", "",
		"configuration file (JSON, see docs/cloud.md); flags given override it")
	root = flag.String("root", "",
		"directory of the received photos, <root>/<device>/<name>, and of the embedded database (required, here or in -config)")
	database = flag.String("database", "",
		`fleet state: "postgres://…" or an SQLite file (default <root>/.state/fleet.db)`)
	listen = flag.String("listen", server.DefaultListen,
		"[host]:port of the devices' API and the fleet page")
	adminListen = flag.String("admin_listen", server.DefaultAdminListen,
		`[host]:port of the unauthenticated metrics, JSON API and status; keep it private; "off": none`)
	spool = flag.String("spool", "",
		"directory of the uploads in progress (default <root>/.spool)")
	tokens = flag.String("tokens", "",
		"a token file of device token hashes, used beside the database's devices")
	publicURL = flag.String("public_url", "",
		"the public address as people reach it (https://…), for links in alerts")
	tlsCert = flag.String("tls_cert", "",
		"TLS certificate (PEM); with -tls_key, serve HTTPS")
	tlsKey = flag.String("tls_key", "",
		"TLS private key (PEM)")
	maxSize = flag.Int64("max_size", 256<<20,
		"largest photo accepted, in bytes")
	expire = flag.Duration("expire", 7*24*time.Hour,
		"how long an unfinished upload is kept after its last request")
	maxUploads = flag.Int("max_uploads", 16,
		"unfinished uploads one device may have")
	maxSpoolBytes = flag.Int64("max_spool_bytes", 2<<30,
		"bytes one device's unfinished uploads may reserve")
	maxConns = flag.Int("max_conns", 1024,
		"connections served at once on -listen (-admin_listen: 16)")
	hashToken = flag.Bool("hash_token", false,
		"read a token from stdin, print its token_sha256 for a token file and exit")
)

// configuration is the file's configuration with the flags given on the
// command line over it.
func configuration() (server.Config, error) {
	var c server.Config
	if *configFile != "" {
		var err error
		if c, err = server.LoadConfig(*configFile); err != nil {
			return c, err
		}
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	str := func(name string, dst *string, v string) {
		if set[name] || *dst == "" {
			*dst = v
		}
	}
	str("root", &c.Root, *root)
	str("database", &c.Database, *database)
	str("listen", &c.Listen, *listen)
	str("admin_listen", &c.AdminListen, *adminListen)
	str("spool", &c.Spool, *spool)
	str("tokens", &c.Tokens, *tokens)
	str("public_url", &c.PublicURL, *publicURL)
	str("tls_cert", &c.TLSCert, *tlsCert)
	str("tls_key", &c.TLSKey, *tlsKey)
	if set["max_size"] || c.Ingest.MaxSize == 0 {
		c.Ingest.MaxSize = *maxSize
	}
	if set["expire"] || c.Ingest.Expire == 0 {
		c.Ingest.Expire = server.Duration(*expire)
	}
	if set["max_uploads"] || c.Ingest.MaxUploads == 0 {
		c.Ingest.MaxUploads = *maxUploads
	}
	if set["max_spool_bytes"] || c.Ingest.MaxSpoolBytes == 0 {
		c.Ingest.MaxSpoolBytes = *maxSpoolBytes
	}
	if set["max_conns"] || c.Ingest.MaxConns == 0 {
		c.Ingest.MaxConns = *maxConns
	}
	if c.Root == "" {
		return c, errors.New("no root directory: give -root DIR or root in -config")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return c, errors.New("-tls_cert and -tls_key go together")
	}
	return c, nil
}

func logic() error {
	if *hashToken {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("reading the token from stdin: %w", err)
		}
		fmt.Println(ingest.HashToken(strings.TrimSpace(line)))
		return nil
	}
	cfg, err := configuration()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if args := flag.Args(); len(args) > 0 {
		return command(ctx, cfg, args, os.Stdout)
	}
	s, err := server.Open(ctx, cfg, server.Options{})
	if err != nil {
		return err
	}
	if pw, err := operator.Bootstrap(ctx, s.DB, "admin", time.Now()); err != nil {
		return err
	} else if pw != "" {
		fmt.Printf("cloudd: created the operator \"admin\" with the password %s\n"+
			"cloudd: it is shown only this once; change it on the fleet page, or with: cloudd operator password admin\n", pw)
	}
	if err := s.Listen(); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			if err := s.ReloadDevices(ctx); err != nil {
				slog.Error("cloudd: reloading devices; keeping the old ones", "err", err)
			}
		}
	}()
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	slog.Info("cloudd: serving", "fleet page", scheme+"://"+s.PublicAddr()+"/fleet", "admin", s.AdminAddr(),
		"database", s.DB.Backend(), "root", cfg.Root)
	return s.Serve(ctx)
}

// command runs a subcommand on the state, device and operator accounts,
// or the archive, and prints its results to out.
func command(ctx context.Context, cfg server.Config, args []string, out io.Writer) error {
	if args[0] == "scrub" {
		return scrub(ctx, cfg, args[1:], out)
	}
	db, err := state.Open(ctx, server.DatabaseFor(cfg))
	if err != nil {
		return err
	}
	defer db.Close()
	usage := errors.New("usage: cloudd [flags] device add|list|remove|token [NAME], operator add|password|list [NAME], " +
		"link add DEVICE [NOTE]|list|revoke ID|revoke DEVICE, or scrub [-rate BYTES]")
	if len(args) < 2 {
		return usage
	}
	if args[0] == "link" {
		return linkCommand(ctx, db, cfg, args[1:], out, usage)
	}
	name := ""
	if len(args) > 2 {
		name = args[2]
	}
	need := func() error {
		if name == "" || len(args) > 3 {
			return usage
		}
		return nil
	}
	switch args[0] + " " + args[1] {
	case "device add", "device token":
		if err := need(); err != nil {
			return err
		}
		if err := ingest.CheckDeviceName(name); err != nil {
			return err
		}
		token := rand.Text() + rand.Text()
		sum := sha256.Sum256([]byte(token))
		if args[1] == "add" {
			err = db.AddDevice(ctx, state.Device{Name: name, TokenSHA256: sum, Created: time.Now()})
		} else {
			err = db.SetDeviceToken(ctx, name, sum)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "device %s, token (shown only this once; put it in the device's site configuration as its cloud target's secret):\n%s\n", name, token)
		return nil
	case "device remove":
		if err := need(); err != nil {
			return err
		}
		return db.RemoveDevice(ctx, name)
	case "device list":
		ds, err := db.Devices(ctx)
		if err != nil {
			return err
		}
		for _, d := range ds {
			st, err := db.Status(ctx, d.Name)
			seen := "never seen"
			if err == nil && !st.LastSeen.IsZero() {
				seen = "last seen " + st.LastSeen.Local().Format(time.DateTime)
			}
			fmt.Fprintf(out, "%-24s added %s, %s\n", d.Name, d.Created.Local().Format(time.DateOnly), seen)
		}
		return nil
	case "operator add", "operator password":
		if err := need(); err != nil {
			return err
		}
		pw := operator.NewPassword()
		h, err := operator.HashPassword(pw)
		if err != nil {
			return err
		}
		if args[1] == "add" {
			err = db.AddOperator(ctx, name, h, time.Now())
		} else {
			err = db.SetPassword(ctx, name, h, time.Now())
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "operator %s, password (shown only this once): %s\n", name, pw)
		return nil
	case "operator list":
		ops, err := db.Operators(ctx)
		if err != nil {
			return err
		}
		for _, o := range ops {
			fmt.Fprintln(out, o)
		}
		return nil
	}
	return usage
}

// scrub checks both copies of every photo against its record, repairs
// what it can, and prints the report; photos left without a good copy
// make it fail.
func scrub(ctx context.Context, cfg server.Config, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("scrub", flag.ContinueOnError)
	fs.SetOutput(out)
	rate := fs.Int64("rate", 0, "bytes read a second at most (0: no limit)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("usage: cloudd [flags] scrub [-rate BYTES]")
	}
	a, err := server.OpenArchive(cfg, slog.Default())
	if err != nil {
		return err
	}
	if a.Replica == nil {
		fmt.Fprintln(out, "no archive configured: photos are kept once; checking them against their records")
	}
	r, err := a.Scrub(ctx, *rate)
	if r != nil {
		fmt.Fprintln(out, r)
		for _, p := range r.Problems {
			fmt.Fprintln(out, "  "+p)
		}
	}
	if err != nil {
		return err
	}
	if r.Unrepairable > 0 {
		return fmt.Errorf("%d photos have no good copy left; see above", r.Unrepairable)
	}
	return nil
}

// linkCommand makes, lists and revokes the public links to cameras'
// pages.
func linkCommand(ctx context.Context, db *state.DB, cfg server.Config, args []string, out io.Writer, usage error) error {
	switch {
	case args[0] == "add" && (len(args) == 2 || len(args) == 3):
		note := ""
		if len(args) == 3 {
			note = args[2]
		}
		id, token, err := gallery.NewLink(ctx, db, args[1], note, time.Now())
		if err != nil {
			return err
		}
		link := gallery.LinkPath(token)
		if cfg.PublicURL != "" {
			link = strings.TrimSuffix(cfg.PublicURL, "/") + link
		} else {
			link += "   (after this server's address; set public_url to print the whole link)"
		}
		fmt.Fprintf(out, "link %d to %s (shown only this once; anyone who has it sees the camera's pages until it is revoked):\n%s\n", id, args[1], link)
		return nil
	case args[0] == "list" && len(args) == 1:
		ls, err := db.Links(ctx)
		if err != nil {
			return err
		}
		for _, l := range ls {
			st := "live"
			if !l.Revoked.IsZero() {
				st = "revoked " + l.Revoked.Local().Format(time.DateTime)
			}
			fmt.Fprintf(out, "%-6d %-24s made %s, %s  %s\n", l.ID, l.Device, l.Created.Local().Format(time.DateTime), st, l.Note)
		}
		return nil
	case args[0] == "revoke" && len(args) == 2:
		if id, err := strconv.ParseInt(args[1], 10, 64); err == nil {
			if err := db.RevokeLink(ctx, id, time.Now()); err != nil {
				return err
			}
			fmt.Fprintf(out, "link %d revoked\n", id)
			return nil
		}
		n, err := db.RevokeLinks(ctx, args[1], time.Now())
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("link revoke %s: no live link of that ID or device", args[1])
		}
		fmt.Fprintf(out, "%d link(s) to %s revoked\n", n, args[1])
		return nil
	}
	return usage
}

func main() {
	flag.Parse()
	if err := logic(); err != nil {
		log.Fatal(err)
	}
}
