// Binary fileserver serves a directory over HTTP and its own CPU time at
// /cpu, so that the end-to-end benchmark can compare a camera download in
// the VM with the same bytes over the VM's network. Test images only.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
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
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

func main() {
	flag.Parse()
	if err := logic(); err != nil {
		log.Fatal(err)
	}
}
