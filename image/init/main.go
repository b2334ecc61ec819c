// Binary init is a lapsebox image's /gokrazy/init: it boots the system
// with gokrazy, then supervises the programs listed in the image's
// init configuration (package initconf). It has no per-build code: the
// same source builds the same binary.
package main

import (
	"fmt"
	"log"
	"os"
	"os/exec"

	"github.com/gokrazy/gokrazy"

	"github.com/lapsebox/lapsebox/image/initconf"
)

func main() {
	log.SetFlags(log.LstdFlags | log.Lshortfile)
	cfg, err := initconf.Read(initconf.Path)
	if err != nil {
		// Without it nothing would run: say why on the console, where
		// the kernel's panic for an exiting init follows.
		log.Fatalf("lapsebox init: %v", err)
	}
	fmt.Printf("gokrazy build timestamp %s\n", cfg.BuildTimestamp)
	if err := gokrazy.Boot(cfg.BuildTimestamp); err != nil {
		log.Fatal(err)
	}
	hostname, _ := os.Hostname()
	fmt.Printf("lapsebox %s on %s\n", hostname, gokrazy.Model())

	var services []*gokrazy.Service
	for _, s := range cfg.Services {
		cmd := exec.Command(s.Path, s.Args...)
		cmd.Env = append(os.Environ(), s.Env...)
		switch {
		case s.DontStart:
			services = append(services, gokrazy.NewStoppedService(cmd))
		case s.WaitForClock:
			services = append(services, gokrazy.NewWaitForClockService(cmd))
		default:
			services = append(services, gokrazy.NewService(cmd))
		}
	}
	if err := gokrazy.SuperviseServices(services); err != nil {
		log.Fatal(err)
	}
	select {}
}
