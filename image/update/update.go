// Package update pushes a new image to a running gokrazy device over
// gokrazy's HTTP update protocol: it uploads the root and boot file systems
// (and the MBR boot code) into the inactive partitions, switches the boot
// configuration to them, reboots the device and waits until it runs the new
// build.
//
// The device side is gokrazy's update.go, reboot.go and status.go; the
// protocol is described in docs/image.md §6.
package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// MBRSize is the length of the MBR boot code region that /update/mbr
// accepts: bytes 0..445 of the disk. Sending more would overwrite the
// partition table, so Push refuses any other length.
const MBRSize = 446

// DefaultWaitTimeout bounds the wait for the device to come back after the
// reboot when the context passed to Push has no deadline.
const DefaultWaitTimeout = 5 * time.Minute

// pollInterval is the pause between two GET / while waiting for the device to
// come back; tests shorten it.
var pollInterval = time.Second

// pollTimeout bounds each single GET / while waiting.
const pollTimeout = 5 * time.Second

// Steps of Push, as reported in Progress.Step and Error.Step.
const (
	StepFeatures = "features"
	StepRoot     = "root"
	StepBoot     = "boot"
	StepMBR      = "mbr"
	StepSwitch   = "switch"
	StepReboot   = "reboot"
	StepWait     = "wait"
	StepStatus   = "status"
)

// ErrHashMismatch is wrapped by the error Push returns when the device
// reports a different hash than the one of the bytes sent.
var ErrHashMismatch = errors.New("hash mismatch")

// ErrWrongBuild is wrapped by the error Push returns when the device runs a
// build other than the one pushed after the reboot.
var ErrWrongBuild = errors.New("wrong build after reboot")

// Device says how to reach a gokrazy device's HTTP server.
type Device struct {
	// BaseURL is the device's web server, e.g. "http://127.0.0.1:18080"
	// or "http://lapsebox-site7:80". A path prefix is kept.
	BaseURL string
	// Password is the device's HTTP password (gokr-pw.txt); the user name
	// is always "gokrazy". If empty, the password in BaseURL's user info,
	// if any, is used.
	Password string
	// Updated is the base URL of the device's updated, e.g.
	// "http://lapsebox-site7:8081", which takes new boot files into the
	// boot slot partition 1 does not cover (bootslot.go). Empty, or a
	// device whose updated does not answer there: gokrazy writes them
	// over partition 1 in place.
	Updated string
	// Client is used for every request. Nil means a client with connect,
	// TLS handshake and response header timeouts but no overall timeout,
	// so that large uploads over slow links are bounded only by the
	// context. Redirects are never followed, whichever client is used: a
	// device that redirects to https is reported as an error that names
	// the new location.
	Client *http.Client
}

// Image is what Push sends to the device.
type Image struct {
	// Root is the root file system image (squashfs), written to the
	// inactive root partition. *os.File fits. Required.
	Root io.ReadSeeker
	// Boot is the boot file system image (FAT16): handed to the device's
	// updated when Device.Updated is set (bootslot.go), else written over
	// the boot partition in place; nil leaves the partition as it is,
	// for a device that already has these boot files (gokrazy's switch
	// still rewrites the command lines' root=).
	Boot io.ReadSeeker
	// MBR is the boot code region of the disk's first sector, exactly
	// MBRSize bytes; nil for boards that do not boot through BIOS boot code
	// (Raspberry Pi, UEFI-only), and when Boot is nil: the code holds the
	// addresses of Boot's kernel and command line.
	MBR []byte
	// BuildTimestamp identifies the new build: Push waits until the
	// device's status reports it. Required.
	BuildTimestamp string
	// Trial boots the new root once, on trial (gokrazy's
	// /update/testboot), instead of switching to it: the running root's
	// init mounts it and hands over to its init. The next reboot returns
	// to the running root unless Commit is called while the trial runs,
	// so a root that hangs or crashes is left by a reset. It requires
	// Boot and MBR to be nil: the trial runs the running kernel, and a
	// boot file system written now would point the next boot elsewhere.
	Trial bool
}

// Progress is reported to Push's progress callback.
type Progress struct {
	// Step is one of the Step* constants.
	Step string
	// Done and Total count bytes during uploads. During StepWait, Done is
	// the number of the poll attempt and Total is 0.
	Done, Total int64
	// Detail says, during StepReboot and StepWait, what the device did
	// (e.g. "down: connection refused", "up, build 2026-…").
	Detail string
}

// Error is the error Push, Status and Features return when a step fails.
type Error struct {
	// Step is one of the Step* constants.
	Step string
	// Method and URL are the request that failed (URL without user info).
	Method, URL string
	// StatusCode is the HTTP status the device answered, 0 if none.
	StatusCode int
	// Body is the start of the body the device sent with a non-2xx status.
	Body string
	// Err is the underlying error, if any.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "update: %s: %s %s", e.Step, e.Method, e.URL)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
		if e.Body != "" {
			fmt.Fprintf(&b, ": %q", e.Body)
		}
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// maxBody bounds how much of a response body is read.
const maxBody = 64 << 10

// maxErrBody bounds how much of a non-2xx body goes into an Error.
const maxErrBody = 1 << 10

// Push updates the device: it checks the device's update features, uploads
// img.Root, img.Boot and img.MBR (each checked against the sha256 the device
// computed of what it wrote; Boot and MBR only when not nil), switches the
// device to the new root partition, reboots it and waits until it reports
// img.BuildTimestamp. With Device.Updated, the boot files and boot code go
// to the device's updated, which writes them into the other boot slot and
// switches to it (bootslot.go); the reboot is then through the firmware.
//
// Nothing is sent if img is invalid. If ctx has no deadline, the wait after
// the reboot is bounded by DefaultWaitTimeout. progress, if not nil, is
// called from the calling goroutine or the HTTP transport's, never
// concurrently.
func Push(ctx context.Context, dev Device, img Image, progress func(Progress)) error {
	if err := img.validate(); err != nil {
		return err
	}
	c, report, err := install(ctx, dev, img, progress)
	if err != nil {
		return err
	}
	return c.wait(ctx, img.BuildTimestamp, report)
}

// Install is Push without the wait: what a device updating itself uses,
// since the reboot ends it. img.Boot may be nil: the boot file system is
// then left as it is (a release whose boot files did not change).
func Install(ctx context.Context, dev Device, img Image, progress func(Progress)) error {
	if err := img.validate(); err != nil {
		return err
	}
	_, _, err := install(ctx, dev, img, progress)
	return err
}

// Commit makes the root a device runs on trial (Image.Trial) its root
// for good: gokrazy's /update/switch, called while the trial runs, points
// the boot configuration at the inactive partition as the kernel sees it,
// which is the one on trial. The caller checks that the device runs the
// build on trial: called on a device that does not, Commit would switch
// it to whatever its other partition holds.
func Commit(ctx context.Context, dev Device) error {
	c, err := newClient(dev)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, StepSwitch, http.MethodPost, "/update/switch", nil)
	return err
}

// Reboot asks the device to reboot, and returns once it said it would or
// dropped the connection on its way down.
func Reboot(ctx context.Context, dev Device) error {
	c, err := newClient(dev)
	if err != nil {
		return err
	}
	return c.reboot(ctx, "/reboot", func(Progress) {})
}

// RebootFirmware is Reboot through the board's firmware, as at power-on,
// never by kexec (gokrazy's default on amd64, which boots the kernel and
// command line partition 1 held when the running kernel booted): what a
// change of the partition tables needs.
func RebootFirmware(ctx context.Context, dev Device) error {
	c, err := newClient(dev)
	if err != nil {
		return err
	}
	return c.reboot(ctx, "/reboot?kexec=off", func(Progress) {})
}

// WriteRoot writes root, a root file system image, into the device's
// inactive root partition, and nothing else: no switch, no reboot. It is
// Install's first step, for a caller that points the boot configuration
// at the new root by its own means.
func WriteRoot(ctx context.Context, dev Device, root io.ReadSeeker, progress func(Progress)) error {
	c, err := newClient(dev)
	if err != nil {
		return err
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	if err := c.checkFeatures(ctx, progress); err != nil {
		return err
	}
	return c.upload(ctx, StepRoot, "/update/root", root, nil, progress)
}

func install(ctx context.Context, dev Device, img Image, progress func(Progress)) (*client, func(Progress), error) {
	c, err := newClient(dev)
	if err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	report := func(p Progress) {
		if progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		progress(p)
	}

	if err := c.checkFeatures(ctx, report); err != nil {
		return nil, nil, err
	}
	if err := c.upload(ctx, StepRoot, "/update/root", img.Root, nil, report); err != nil {
		return nil, nil, err
	}
	inSlot := false // the boot files written by updated, into the other boot slot
	if img.Boot != nil && dev.Updated != "" {
		switch err := pushBootSlot(ctx, dev, img, report); {
		case err == nil:
			inSlot = true
		case errors.Is(err, ErrNoBootSlot):
			report(Progress{Step: StepBoot, Detail: err.Error() + ": gokrazy writes them over the boot partition in place"})
		default:
			return nil, nil, err
		}
	}
	if img.Boot != nil && !inSlot {
		if err := c.upload(ctx, StepBoot, "/update/boot", img.Boot, nil, report); err != nil {
			return nil, nil, err
		}
	}
	if img.MBR != nil && !inSlot {
		if err := c.upload(ctx, StepMBR, "/update/mbr", strings.NewReader(string(img.MBR)), nil, report); err != nil {
			return nil, nil, err
		}
	}

	report(Progress{Step: StepSwitch})
	reboot := "/reboot"
	switch {
	case inSlot:
		// The new slot's command lines name the new root already, and
		// only the firmware reads the tables: no kexec of the kernel
		// partition 1 held at boot.
		report(Progress{Step: StepSwitch, Detail: "updated wrote the boot files into the other boot slot, naming the new root, and switched the partition tables to it"})
		reboot = "/reboot?kexec=off"
	case img.Trial:
		if _, err := c.do(ctx, StepSwitch, http.MethodPost, "/update/testboot", nil); err != nil {
			return nil, nil, err
		}
		report(Progress{Step: StepSwitch, Detail: "the device boots the new root file system once, on trial"})
	default:
		if _, err := c.do(ctx, StepSwitch, http.MethodPost, "/update/switch", nil); err != nil {
			return nil, nil, err
		}
		report(Progress{Step: StepSwitch, Detail: "the device boots the new root file system next"})
	}

	report(Progress{Step: StepReboot})
	if err := c.reboot(ctx, reboot, report); err != nil {
		return nil, nil, err
	}
	return c, report, nil
}

// checkFeatures checks that the device speaks the update protocol Push
// uses.
func (c *client) checkFeatures(ctx context.Context, report func(Progress)) error {
	report(Progress{Step: StepFeatures})
	f, err := c.features(ctx)
	if err != nil {
		return err
	}
	for _, need := range []string{"partuuid", "updatehash"} {
		if !f.Has(need) {
			return &Error{Step: StepFeatures, Method: http.MethodGet, URL: c.url("/update/features"),
				Err: fmt.Errorf("device lacks feature %q (has %q); it runs a gokrazy too old for this update protocol", need, f.Features)}
		}
	}
	report(Progress{Step: StepFeatures, Detail: "the device supports " + f.List()})
	return nil
}

func (img *Image) validate() error {
	switch {
	case img.Root == nil:
		return errors.New("update: Image.Root is nil")
	case img.MBR != nil && len(img.MBR) != MBRSize:
		return fmt.Errorf("update: Image.MBR is %d bytes, want exactly %d (the boot code before the partition table); refusing to send it", len(img.MBR), MBRSize)
	case img.BuildTimestamp == "":
		return errors.New("update: Image.BuildTimestamp is empty; Push needs it to recognise the new build")
	case img.Boot == nil && img.MBR != nil:
		return errors.New("update: Image.MBR without Image.Boot: the boot code holds the addresses of the new boot files' kernel and command line; refusing to send it alone")
	case img.Trial && (img.Boot != nil || img.MBR != nil):
		return errors.New("update: a trial boot runs the running kernel: Image.Boot and Image.MBR must be nil (the new boot files are written once the trial is committed, or the release is installed without a trial)")
	}
	return nil
}

type client struct {
	hc       *http.Client
	base     *url.URL
	password string
}

func newClient(dev Device) (*client, error) {
	u, err := url.Parse(dev.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("update: Device.BaseURL %q: %v", dev.BaseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("update: Device.BaseURL %q: want http://host[:port] or https://host[:port]", dev.BaseURL)
	}
	pw := dev.Password
	if pw == "" && u.User != nil {
		pw, _ = u.User.Password()
	}
	u.User = nil
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""

	var hc http.Client
	if dev.Client != nil {
		hc = *dev.Client
	} else {
		hc = http.Client{Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 4 * time.Minute, // fsync of a root image; killing services on /reboot (100 s per signal)
			IdleConnTimeout:       30 * time.Second,
		}}
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client{hc: &hc, base: u, password: pw}, nil
}

func (c *client) url(path string) string { return c.base.String() + path }

func (c *client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), body)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth("gokrazy", c.password)
	return req, nil
}

// do sends a request without body and returns the body of a 2xx response.
func (c *client) do(ctx context.Context, step, method, path string, hdr http.Header) ([]byte, error) {
	req, err := c.newRequest(ctx, method, path, nil)
	if err != nil {
		return nil, &Error{Step: step, Method: method, URL: c.url(path), Err: err}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &Error{Step: step, Method: method, URL: c.url(path), Err: unwrapURLError(err)}
	}
	return readResponse(step, req, resp)
}

// readResponse reads and closes resp's body; a non-2xx status is an *Error.
func readResponse(step string, req *http.Request, resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Step: step, Method: req.Method, URL: req.URL.Redacted(), StatusCode: resp.StatusCode, Body: errBody(b)}
		if loc := resp.Header.Get("Location"); loc != "" {
			e.Err = fmt.Errorf("device redirects to %s; use that as the device's base URL", loc)
		}
		return nil, e
	}
	if err != nil {
		return nil, &Error{Step: step, Method: req.Method, URL: req.URL.Redacted(), StatusCode: resp.StatusCode, Err: fmt.Errorf("reading response: %w", err)}
	}
	return b, nil
}

func errBody(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > maxErrBody {
		s = s[:maxErrBody] + "…"
	}
	return s
}

// unwrapURLError drops *url.Error's "Put "http://…": " prefix, which Error
// already says.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// upload streams r to path with PUT and checks the sha256 the device returns
// against the one of the bytes sent.
func (c *client) upload(ctx context.Context, step, path string, r io.ReadSeeker, hdr http.Header, report func(Progress)) error {
	fail := func(err error) error {
		return &Error{Step: step, Method: http.MethodPut, URL: c.url(path), Err: err}
	}
	size, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return fail(fmt.Errorf("finding the image size: %w", err))
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return fail(fmt.Errorf("rewinding the image: %w", err))
	}
	if size == 0 {
		return fail(errors.New("image is empty"))
	}
	body := &hashingReader{r: r, h: sha256.New(), total: size, step: step, report: report}
	req, err := c.newRequest(ctx, http.MethodPut, path, body)
	if err != nil {
		return fail(err)
	}
	req.ContentLength = size
	for k, v := range hdr {
		req.Header[k] = v
	}
	report(Progress{Step: step, Total: size})
	resp, err := c.hc.Do(req)
	if err != nil {
		return fail(unwrapURLError(err))
	}
	b, err := readResponse(step, req, resp)
	if err != nil {
		return err
	}
	sent, sum := body.result()
	if sent != size {
		return fail(fmt.Errorf("device answered after %d of %d bytes", sent, size))
	}
	got := strings.ToLower(strings.TrimSpace(string(b)))
	if got != sum {
		return fail(fmt.Errorf("%w: sent %d bytes with sha256 %s, device reports %q", ErrHashMismatch, size, sum, errBody(b)))
	}
	return nil
}

// hashingReader hashes and counts what the HTTP transport reads and reports
// progress. The transport reads from its own goroutine, hence the mutex.
type hashingReader struct {
	r      io.Reader
	step   string
	total  int64
	report func(Progress)

	mu       sync.Mutex
	h        hash.Hash
	n        int64
	reported int64
}

const progressEvery = 256 << 10

func (hr *hashingReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.mu.Lock()
	hr.h.Write(p[:n])
	hr.n += int64(n)
	done := hr.n
	tell := done-hr.reported >= progressEvery || (done == hr.total && hr.reported != done)
	if tell {
		hr.reported = done
	}
	hr.mu.Unlock()
	if tell {
		hr.report(Progress{Step: hr.step, Done: done, Total: hr.total})
	}
	return n, err
}

func (hr *hashingReader) result() (int64, string) {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	return hr.n, hex.EncodeToString(hr.h.Sum(nil))
}

// reboot asks the device to reboot. gokrazy answers after it killed the
// services and reboots a second later, but a device may also drop the
// connection before answering: once the request was written, a dropped
// connection counts as success, since the wait that follows checks the
// outcome.
func (c *client) reboot(ctx context.Context, path string, report func(Progress)) error {
	// A fresh connection, so that a stale keep-alive one cannot be
	// mistaken for the device going down.
	c.hc.CloseIdleConnections()
	var wrote atomic.Bool
	tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				wrote.Store(true)
			}
		},
	})
	req, err := c.newRequest(tctx, http.MethodPost, path, nil)
	if err != nil {
		return &Error{Step: StepReboot, Method: http.MethodPost, URL: c.url(path), Err: err}
	}
	req.Close = true
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil && wrote.Load() && isDrop(err) {
			report(Progress{Step: StepReboot, Detail: "connection dropped by the rebooting device: " + unwrapURLError(err).Error()})
			return nil
		}
		return &Error{Step: StepReboot, Method: http.MethodPost, URL: c.url(path), Err: unwrapURLError(err)}
	}
	b, err := readResponse(StepReboot, req, resp)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.StatusCode/100 == 2 && ctx.Err() == nil && isDrop(e.Err) {
			report(Progress{Step: StepReboot, Detail: "connection dropped by the rebooting device during the answer"})
			return nil
		}
		return err
	}
	report(Progress{Step: StepReboot, Detail: strings.TrimSpace(string(b))})
	return nil
}

// isDrop reports whether err means the peer closed or reset the connection.
func isDrop(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE)
}

// wait polls GET / until the device reports want as its build timestamp.
func (c *client) wait(ctx context.Context, want string, report func(Progress)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWaitTimeout)
		defer cancel()
	}
	start := time.Now()
	fail := func(err error) error {
		return &Error{Step: StepWait, Method: http.MethodGet, URL: c.url("/"), Err: err}
	}
	var (
		seenDown  bool
		lastBuild string // build seen in the last successful poll
		lastErr   error  // error of the last failed poll
	)
	for attempt := int64(1); ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, pollTimeout)
		st, err := c.status(pctx, StepWait, true)
		cancel()
		var detail string
		switch {
		case err == nil && st.BuildTimestamp == want:
			report(Progress{Step: StepWait, Done: attempt, Detail: "up, build " + want})
			return nil
		case err == nil:
			lastBuild, lastErr = st.BuildTimestamp, nil
			if seenDown {
				return fail(fmt.Errorf("%w: device came back with build %s, want %s (did the switch not take effect?)", ErrWrongBuild, st.BuildTimestamp, want))
			}
			detail = "still up with build " + st.BuildTimestamp + ", waiting for it to go down"
		case ctx.Err() != nil:
			// The deadline hit during this attempt; handled below.
		case isFatalStatusError(err):
			return err
		default:
			seenDown, lastBuild, lastErr = true, "", err
			detail = "down: " + describe(err)
		}
		if detail != "" {
			report(Progress{Step: StepWait, Done: attempt, Detail: detail})
		}
		t := time.NewTimer(pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			waited := time.Since(start).Round(time.Millisecond)
			if lastBuild != "" {
				return fail(fmt.Errorf("%w: device still runs build %s after %v, want %s: it did not reboot (%v)", ErrWrongBuild, lastBuild, waited, want, ctx.Err()))
			}
			if lastErr != nil {
				return fail(fmt.Errorf("device did not come back within %v: %w (last poll: %s)", waited, ctx.Err(), describe(lastErr)))
			}
			return fail(fmt.Errorf("device did not come back within %v: %w", waited, ctx.Err()))
		case <-t.C:
		}
	}
}

// describe shortens a poll error for progress reports.
func describe(err error) string {
	var e *Error
	if errors.As(err, &e) {
		if e.StatusCode != 0 {
			return fmt.Sprintf("HTTP %d %s", e.StatusCode, e.Body)
		}
		if e.Err != nil {
			return e.Err.Error()
		}
	}
	return err.Error()
}

// isFatalStatusError reports whether polling should stop on err: the device
// answered, but with something that will not change by waiting (wrong
// password, not gokrazy, not JSON).
func isFatalStatusError(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if e.StatusCode >= 400 && e.StatusCode < 500 {
		return true
	}
	var se *statusDecodeError
	return errors.As(err, &se)
}
