// Binary benchcmd runs package process alone, for scripts/bench-process to
// measure its wall time and peak RSS in a child process, side by side with
// ImageMagick.
//
//	benchcmd gen -o photo.jpg [-w 5184 -h 3456 -q 92] [-wm wm.png] [-ttf Go-Regular.ttf]
//	benchcmd run -spec spec.json -in photo.jpg -out dir [-n 1] [-full] [-cpuprofile f]
//	benchcmd compare a.jpg b.jpg
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/lapsebox/lapsebox/appliance/process"
	"github.com/lapsebox/lapsebox/appliance/process/internal/synth"
	"golang.org/x/image/font/gofont/goregular"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: benchcmd gen|run|compare [flags]")
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	case "compare":
		err = compare(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		log.Fatal(err)
	}
}

// gen writes a photo-like test JPEG, and optionally a watermark PNG and the
// Go Regular font (for ImageMagick to draw the same caption).
func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	out := fs.String("o", "photo.jpg", "JPEG to write")
	w := fs.Int("w", 5184, "width")
	h := fs.Int("h", 3456, "height")
	q := fs.Int("q", 92, "JPEG quality")
	noise := fs.Int("noise", 10, "noise amplitude in levels")
	wm := fs.String("wm", "", "also write a 400×400 watermark PNG here")
	ttf := fs.String("ttf", "", "also write Go Regular here")
	fs.Parse(args)
	img := synth.Photo(*w, *h, 1, *noise)
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := jpeg.Encode(f, img, &jpeg.Options{Quality: *q}); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if *wm != "" {
		f, err := os.Create(*wm)
		if err != nil {
			return err
		}
		if err := png.Encode(f, synth.Logo(400, 400, color.NRGBA{0xd0, 0x30, 0x20, 0xff})); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if *ttf != "" {
		return os.WriteFile(*ttf, goregular.TTF, 0o644)
	}
	return nil
}

// run processes one photo n times and prints the time per photo and the
// peak RSS.
func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	specFile := fs.String("spec", "", "spec JSON")
	in := fs.String("in", "", "photo")
	outDir := fs.String("out", ".", "directory for the outputs")
	n := fs.Int("n", 1, "times to process the photo")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile here")
	full := fs.Bool("full", false, "decode at full size (no shrink-on-load)")
	fs.Parse(args)
	data, err := os.ReadFile(*specFile)
	if err != nil {
		return err
	}
	spec, err := process.ParseSpec(*specFile, data)
	if err != nil {
		return err
	}
	p, err := process.New(spec)
	if err != nil {
		return err
	}
	p.FullDecode = *full
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	taken := time.Date(2026, 7, 14, 12, 30, 0, 0, time.UTC)
	start := time.Now()
	for range *n {
		f, err := os.Open(*in)
		if err != nil {
			return err
		}
		err = p.Process(context.Background(), process.Photo{Name: *in, R: f, Taken: taken},
			func(o *process.Output) (io.WriteCloser, error) {
				return os.Create(filepath.Join(*outDir, o.Name+".jpg"))
			})
		f.Close()
		if err != nil {
			return err
		}
	}
	el := time.Since(start) / time.Duration(*n)
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return errors.New("getrusage: " + err.Error())
	}
	fmt.Printf("per photo %.3f s, peak RSS %d MB\n", el.Seconds(), ru.Maxrss/1024)
	return nil
}
