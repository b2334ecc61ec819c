// Package gokrazyhttp talks to gokrazy's own HTTP interface from inside
// the appliance: over the unix socket gokrazy always listens on, with the
// device's HTTP password when one is set.
package gokrazyhttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Socket is the unix socket gokrazy's HTTP server listens on.
const Socket = "/run/gokrazy-http.sock"

// PasswordFiles are where gokrazy keeps its HTTP password, in the order
// it reads them.
var PasswordFiles = []string{"/perm/gokr-pw.txt", "/etc/gokr-pw.txt"}

// ReadPassword returns gokrazy's HTTP password from the first of files
// that exists, and that file's name; or "", "" if none does. Errors name
// the file, never its content.
func ReadPassword(files []string) (pw, file string, err error) {
	for _, fn := range files {
		b, err := os.ReadFile(fn)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", "", fmt.Errorf("reading password: %w", err)
		}
		return string(bytes.TrimSpace(b)), fn, nil
	}
	return "", "", nil
}

// Client posts to gokrazy.
type Client struct {
	Socket        string   // default Socket
	PasswordFiles []string // default PasswordFiles
}

// Reboot asks gokrazy to stop every service, unmount /perm and reboot
// (POST /reboot). It returns once gokrazy accepted.
func (c *Client) Reboot(ctx context.Context) error {
	return c.post(ctx, "/reboot", url.Values{"async": {"true"}})
}

func (c *Client) post(ctx context.Context, path string, form url.Values) error {
	socket, files := c.Socket, c.PasswordFiles
	if socket == "" {
		socket = Socket
	}
	if files == nil {
		files = PasswordFiles
	}
	where := fmt.Sprintf("gokrazy: POST %s over %s", path, socket)
	pw, pwFile, err := ReadPassword(files)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	// One request per client: no connection may stay open (with its
	// goroutines) once it is done.
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://gokrazy"+path, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if pwFile != "" {
		req.SetBasicAuth("gokrazy", pw)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s: %w", where, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", where, resp.Status, strings.ToValidUTF8(string(bytes.TrimSpace(body)), ""))
	}
	return nil
}
