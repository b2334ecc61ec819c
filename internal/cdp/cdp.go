// Package cdp drives a headless Chromium (Debian's chromium package)
// over the DevTools protocol for browser tests: load a page at a given
// window size, run JavaScript in it, take a screenshot, and collect what
// the console and the browser's log said (content security policy
// violations among them). Only what the tests need of the protocol.
package cdp

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/lapsebox/lapsebox/internal/testtool"
)

// Browser is a headless Chromium with one page.
type Browser struct {
	tb  testing.TB
	cmd *exec.Cmd
	ws  *websocket.Conn

	mu      sync.Mutex
	next    int
	pending map[int]chan response
	loaded  chan struct{}
	logs    []string
}

type response struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// Start starts Chromium, headless, and connects to its page; it is
// stopped when the test ends. Without Chromium the test fails under CI
// and is skipped otherwise.
func Start(tb testing.TB) *Browser {
	tb.Helper()
	bin := testtool.Program(tb, "chromium")
	dir := tb.TempDir()
	cmd := exec.Command(bin, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-extensions", "--disable-background-networking", "--disable-sync", "--hide-scrollbars",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--remote-allow-origins=*",
		"--user-data-dir="+dir, "about:blank")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	b := &Browser{tb: tb, cmd: cmd, pending: map[int]chan response{}, loaded: make(chan struct{}, 16)}
	tb.Cleanup(b.stop)
	// "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if _, u, ok := strings.Cut(sc.Text(), "DevTools listening on "); ok {
				found <- u
			}
		}
		close(found)
	}()
	var browserURL string
	select {
	case u, ok := <-found:
		if !ok {
			tb.Fatal("chromium exited without a DevTools address")
		}
		browserURL = u
	case <-time.After(2 * time.Minute):
		tb.Fatal("chromium gave no DevTools address in 2 minutes")
	}
	host := strings.TrimPrefix(browserURL, "ws://")
	host = host[:strings.Index(host, "/")]
	pageURL, err := firstPage(host)
	if err != nil {
		tb.Fatal(err)
	}
	if b.ws, err = websocket.Dial(pageURL, "", "http://127.0.0.1/"); err != nil {
		tb.Fatalf("connecting to the page: %v", err)
	}
	b.ws.MaxPayloadBytes = 64 << 20
	go b.read()
	for _, m := range []string{"Page.enable", "Runtime.enable", "Log.enable"} {
		if err := b.Call(m, nil, nil); err != nil {
			tb.Fatal(err)
		}
	}
	return b
}

// firstPage returns the DevTools URL of the browser's page.
func firstPage(host string) (string, error) {
	resp, err := http.Get("http://" + host + "/json/list")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var targets []struct{ Type, WebSocketDebuggerURL string }
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
		return "", err
	}
	for _, t := range targets {
		if t.Type == "page" {
			return t.WebSocketDebuggerURL, nil
		}
	}
	return "", errors.New("chromium has no page")
}

func (b *Browser) stop() {
	if b.ws != nil {
		b.ws.Close()
	}
	syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	b.cmd.Wait()
}

// read dispatches the answers and events.
func (b *Browser) read() {
	for {
		var msg struct {
			ID     int             `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			response
		}
		if err := websocket.JSON.Receive(b.ws, &msg); err != nil {
			b.mu.Lock()
			for id, ch := range b.pending {
				ch <- response{Error: &struct {
					Message string `json:"message"`
				}{err.Error()}}
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		if msg.ID != 0 {
			b.mu.Lock()
			ch := b.pending[msg.ID]
			delete(b.pending, msg.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- msg.response
			}
			continue
		}
		switch msg.Method {
		case "Page.loadEventFired":
			select {
			case b.loaded <- struct{}{}:
			default:
			}
		case "Log.entryAdded":
			var p struct {
				Entry struct{ Level, Source, Text string }
			}
			json.Unmarshal(msg.Params, &p)
			b.log(fmt.Sprintf("log %s %s: %s", p.Entry.Level, p.Entry.Source, p.Entry.Text))
		case "Runtime.consoleAPICalled":
			var p struct {
				Type string
				Args []struct{ Value any }
			}
			json.Unmarshal(msg.Params, &p)
			var parts []string
			for _, a := range p.Args {
				parts = append(parts, fmt.Sprint(a.Value))
			}
			b.log(fmt.Sprintf("console %s: %s", p.Type, strings.Join(parts, " ")))
		case "Runtime.exceptionThrown":
			b.log("exception: " + string(msg.Params))
		}
	}
}

func (b *Browser) log(s string) {
	b.mu.Lock()
	b.logs = append(b.logs, s)
	b.mu.Unlock()
}

// Logs returns what the console and the browser's log said so far.
func (b *Browser) Logs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.logs...)
}

// Call calls a DevTools method and decodes its result into result (if
// not nil).
func (b *Browser) Call(method string, params, result any) error {
	b.mu.Lock()
	b.next++
	id := b.next
	ch := make(chan response, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	if params == nil {
		params = struct{}{}
	}
	if err := websocket.JSON.Send(b.ws, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return fmt.Errorf("cdp: %s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return fmt.Errorf("cdp: %s: %s", method, r.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(r.Result, result)
		}
		return nil
	case <-time.After(2 * time.Minute):
		return fmt.Errorf("cdp: %s: no answer in 2 minutes", method)
	}
}

// Viewport sets the window's size; mobile emulates a phone (touch, the
// viewport meta tag honoured).
func (b *Browser) Viewport(width, height int, mobile bool) error {
	return b.Call("Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}, nil)
}

// Load runs action (a navigation, a click that submits a form) and waits
// for the page it leads to to load.
func (b *Browser) Load(action func() error) error {
	for len(b.loaded) > 0 {
		<-b.loaded
	}
	if err := action(); err != nil {
		return err
	}
	select {
	case <-b.loaded:
		return nil
	case <-time.After(2 * time.Minute):
		return errors.New("cdp: the page did not load in 2 minutes")
	}
}

// Navigate loads url.
func (b *Browser) Navigate(url string) error {
	return b.Load(func() error { return b.Call("Page.navigate", map[string]any{"url": url}, nil) })
}

// Eval evaluates a JavaScript expression (awaiting a promise) and
// decodes its value into out (if not nil).
func (b *Browser) Eval(expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := b.Call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r); err != nil {
		return err
	}
	if e := r.ExceptionDetails; e != nil {
		return fmt.Errorf("cdp: %s: %s %s", expr, e.Text, e.Exception.Description)
	}
	if out != nil && len(r.Result.Value) > 0 {
		return json.Unmarshal(r.Result.Value, out)
	}
	return nil
}

// Screenshot writes the page as a PNG to path.
func (b *Browser) Screenshot(path string, fullPage bool) error {
	var r struct{ Data string }
	if err := b.Call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": fullPage}, &r); err != nil {
		return err
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// ScreenshotDir is where tests keep their screenshots:
// $LAPSEBOX_SCREENSHOTS, else build/screenshots in the module's root
// (the directory of go.mod above the test's).
func ScreenshotDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("LAPSEBOX_SCREENSHOTS")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			tb.Fatal(err)
		}
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				dir = filepath.Join(d, "build", "screenshots")
				break
			}
			if filepath.Dir(d) == d {
				tb.Fatalf("cdp: no go.mod above %s", wd)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}
