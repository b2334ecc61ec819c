// Binary cloudd is the central server's ingest: it receives the fleet's
// photos over tus (resumable uploads), checks each device's token and each
// photo's SHA-256, and stores them crash-safely under <root>/<device>/.
// SIGHUP reloads the token file. Both of its servers cut off slow and idle
// clients and serve a bounded number of connections (ingest.Limits); each
// device has a bounded share of the spool. SECURITY.md says what each
// endpoint exposes.
//
// The token file holds only hashes of the tokens:
//
//	{"devices": {"glacier-1": {"token_sha256": "<hex SHA-256 of the token>"}}}
//
// Example:
//
//	head -c 32 /dev/urandom | base64 | tee glacier-1.token | cloudd -hash_token
//	cloudd -root=/srv/lapsebox/photos -tokens=/etc/lapsebox/tokens.json \
//	  -listen=:443 -tls_cert=cert.pem -tls_key=key.pem -admin_listen=10.0.0.1:9091
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/cloud/ingest"
)

var (
	listen = flag.String("listen", ":8080",
		"[host]:port to receive uploads on")
	adminListen = flag.String("admin_listen", "localhost:9091",
		"[host]:port of the unauthenticated JSON status (GET /status); keep it private; empty: off")
	root = flag.String("root", "",
		"directory of the received photos, <root>/<device>/<name> (required)")
	spool = flag.String("spool", "",
		"directory of the uploads in progress (default <root>/.spool)")
	tokens = flag.String("tokens", "",
		"the token file (JSON, see the package doc) (required)")
	maxSize = flag.Int64("max_size", 256<<20,
		"largest photo accepted, in bytes")
	expire = flag.Duration("expire", 7*24*time.Hour,
		"how long an unfinished upload is kept after its last request")
	tlsCert = flag.String("tls_cert", "",
		"TLS certificate (PEM); with -tls_key, serve HTTPS")
	tlsKey = flag.String("tls_key", "",
		"TLS private key (PEM)")
	maxUploads = flag.Int("max_uploads", 16,
		"unfinished uploads one device may have")
	maxSpoolBytes = flag.Int64("max_spool_bytes", 2<<30,
		"bytes one device's unfinished uploads may reserve")
	maxConns = flag.Int("max_conns", 1024,
		"connections served at once on -listen (-admin_listen: 16)")
	hashToken = flag.Bool("hash_token", false,
		"read a token from stdin, print its token_sha256 for the token file and exit")
)

func logic() error {
	if *hashToken {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("reading the token from stdin: %w", err)
		}
		fmt.Println(ingest.HashToken(strings.TrimSpace(line)))
		return nil
	}
	if *root == "" || *tokens == "" {
		return errors.New("-root and -tokens are required")
	}
	devices, err := ingest.LoadDevices(*tokens)
	if err != nil {
		return err
	}
	s, err := ingest.New(ingest.Config{
		Root:          *root,
		Spool:         *spool,
		Devices:       devices,
		MaxSize:       *maxSize,
		Expire:        *expire,
		MaxUploads:    *maxUploads,
		MaxSpoolBytes: *maxSpoolBytes,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		sweep := time.NewTicker(time.Hour)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				d, err := ingest.LoadDevices(*tokens)
				if err != nil {
					slog.Error("cloudd: reloading tokens; keeping the old ones", "err", err)
					continue
				}
				s.SetDevices(d)
				slog.Info("cloudd: tokens reloaded", "devices", len(d))
			case now := <-sweep.C:
				if err := s.Sweep(now); err != nil {
					slog.Error("cloudd: sweeping the spool", "err", err)
				}
			}
		}
	}()

	errc := make(chan error, 2)
	if *adminListen != "" {
		limits := ingest.Limits{MaxConns: 16}
		ln, err := ingest.Listen(*adminListen, limits)
		if err != nil {
			return err
		}
		admin := ingest.NewHTTPServer(s.AdminHandler(), limits, nil)
		defer admin.Close()
		go func() { errc <- admin.Serve(ln) }()
	}
	limits := ingest.Limits{MaxConns: *maxConns}
	ln, err := ingest.Listen(*listen, limits)
	if err != nil {
		return err
	}
	srv := ingest.NewHTTPServer(s.Handler(), limits, nil)
	go func() {
		if *tlsCert != "" {
			errc <- srv.ServeTLS(ln, *tlsCert, *tlsKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	slog.Info("cloudd: receiving", "addr", ln.Addr().String(), "root", *root, "devices", len(devices))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

func main() {
	flag.Parse()
	if err := logic(); err != nil {
		log.Fatal(err)
	}
}
