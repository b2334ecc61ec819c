// Binary statusd serves the appliance's own page, its JSON API and its
// Prometheus metrics: today's captures, the latest picture, the upload
// queues, /perm and the days of autonomy, the modem, health and the
// watchdog, sensors, versions and recent errors, from the status files
// of lapsebox's services under /run/lapsebox and from gokrazy (over its
// unix socket). Everything but /healthz needs gokrazy's user and password,
// from a private network; the site configuration can open a public
// summary (package status). At /api/config it takes a new site
// configuration and gives out the one in use (package configapi).
//
// Example:
//
//	statusd -listen=:8080
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/appliance/bootdisk"
	"github.com/lapsebox/lapsebox/appliance/configapi"
	"github.com/lapsebox/lapsebox/appliance/status"
	"github.com/lapsebox/lapsebox/image/release"
	"github.com/lapsebox/lapsebox/internal/rest"
)

// version is set at build time with -ldflags "-X main.version=…"; if it is
// not, the version recorded by the Go toolchain is used.
var version string

var (
	listen = flag.String("listen", ":8080",
		"[host]:port to serve the status page and API on")
	refresh = flag.Duration("refresh", 30*time.Second,
		"how often the status page reloads itself (0: never)")
	staleAfter = flag.Duration("stale", 5*time.Minute,
		"age after which a service's status file counts as stale")
	procDir = flag.String("proc", status.DefaultProcDir,
		"where procfs is mounted")
	permDir = flag.String("perm", status.DefaultPermDir,
		"mount point of the persistent partition")
	runDir = flag.String("run", status.DefaultRunDir,
		"directory of the services' <name>.json status files")
	gokrazySocket = flag.String("gokrazy_socket", status.DefaultGokrazySocket,
		"unix socket of gokrazy's HTTP server")
	allowPublic = flag.Bool("allow_public", false,
		"answer clients on public addresses too, with the password (default: private networks, loopback and link-local only)")
	etcDir = flag.String("etc", "/etc",
		"directory of the image's gokr-pw.txt, the password statusd asks for (overridden by the one in -perm, as gokrazy does)")
	passwordFiles = flag.String("gokrazy_password_files", strings.Join(status.DefaultPasswordFiles, ","),
		"comma-separated files to read gokrazy's HTTP password from, first existing wins")
	mountinfoPath = flag.String("mountinfo", "/proc/self/mountinfo",
		"the mount table, to find the disk the root was mounted from")
	sysfs = flag.String("sysfs", "/sys", "where sysfs is mounted")
)

func logic() error {
	v := version
	if v == "" {
		v = status.BuildVersion()
	}
	var bootSHA256 string
	if b, err := release.ReadBuildInfo("/"); err == nil {
		bootSHA256 = b.BootSHA256
	}
	// The disk, for what a push would write over (status.BootPath).
	var disk *bootdisk.Disk
	if d, err := bootdisk.Find(*mountinfoPath, *sysfs); err != nil {
		log.Printf("statusd: %v: %s answers 503", err, status.BootPath)
	} else {
		disk = &d
	}
	c := status.NewCollector(status.Config{
		ProcDir:       *procDir,
		PermDir:       *permDir,
		RunDir:        *runDir,
		GokrazySocket: *gokrazySocket,
		PasswordFiles: splitList(*passwordFiles),
		Version:       v,
		BootSHA256:    bootSHA256,
		Disk:          disk,
		StaleAfter:    *staleAfter,
	})
	handler := status.NewServer(c, status.Options{
		Refresh:     *refresh,
		EtcDir:      *etcDir,
		AllowPublic: *allowPublic,
		// Push and pull of the site configuration.
		Protected: map[string]http.Handler{configapi.Path: &configapi.Handler{PermDir: *permDir, EtcDir: *etcDir}},
	})
	// Pages and pictures are served seconds a day: what they used goes
	// back half a minute after the last.
	idle := &rest.Timer{After: 30 * time.Second}
	srv := &http.Server{
		Handler:           busy(idle, handler),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	log.Printf("statusd %s serving on %s", v, ln.Addr())
	// One collection now arms the runtime's periodic one (every 2
	// minutes, but only once a first collection has run). statusd
	// allocates only when asked; without this, a light, steady load (a
	// health probe every few seconds) grew its heap, and its resident
	// memory with it, by some 0.07 MiB a minute for most of an hour until
	// the heap reached the collector's 4 MiB minimum goal.
	runtime.GC()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	rest.AfterStart()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	cause := context.Cause(ctx) // "terminated signal received"
	stop()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	// Exit non-zero on purpose: gokrazy takes exit status 0 for "done" and
	// would not start statusd again after a restart from its web
	// interface, which is a SIGTERM too. A stop is still a stop: gokrazy
	// marks the service stopped before it signals.
	return fmt.Errorf("shut down: %w", cause)
}

// splitList splits a comma-separated flag value, dropping empty elements.
func splitList(s string) []string {
	list := []string{}
	for e := range strings.SplitSeq(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			list = append(list, e)
		}
	}
	return list
}

func main() {
	flag.Parse()
	if err := logic(); err != nil {
		log.Fatal(err)
	}
}

// busy returns h, which marks the daemon busy at the end of every request
// it serves: the page's memory goes back once pages stop being asked for.
func busy(idle *rest.Timer, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer idle.Busy()
		h.ServeHTTP(w, r)
	})
}
