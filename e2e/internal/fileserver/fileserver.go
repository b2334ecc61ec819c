// Binary fileserver serves a directory over HTTP, its own CPU time at /cpu
// and the whole guest's at /guestcpu, so that the end-to-end benchmark can
// compare a camera download in the VM with the same bytes over the VM's
// network. Test images only.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var (
	listen = flag.String("listen", ":8081", "[host]:port to serve on")
	dir    = flag.String("dir", "/perm/lapsebox/download", "directory to serve")
)

func logic() error {
	mux := http.NewServeMux()
	mux.Handle("/files/", http.StripPrefix("/files/", http.FileServer(http.Dir(*dir))))
	mux.HandleFunc("/cpu", func(w http.ResponseWriter, r *http.Request) {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%.6f\n", time.Duration(ru.Utime.Nano()+ru.Stime.Nano()).Seconds())
	})
	mux.HandleFunc("/guestcpu", func(w http.ResponseWriter, r *http.Request) {
		busy, err := guestBusy()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%.6f\n", busy)
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

// guestBusy returns the seconds every CPU of the guest has not been idle
// since boot: user, nice, system, irq and softirq time from /proc/stat.
// The kernel's share of a transfer (a network stack's softirqs, a USB
// controller's interrupts) is charged to no process.
func guestBusy() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy float64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system irq softirq
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %q: %v", line, err)
		}
		busy += v
	}
	return busy / 100, nil // USER_HZ
}

func main() {
	flag.Parse()
	if err := logic(); err != nil {
		log.Fatal(err)
	}
}
