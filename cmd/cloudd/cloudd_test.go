package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/cloud/operator"
	"github.com/lapsebox/lapsebox/cloud/server"
	"github.com/lapsebox/lapsebox/cloud/state"
)

// The commands on the embedded state: a device's token is printed once
// and only its hash kept; an operator's new password works.
func TestCommands(t *testing.T) {
	ctx := context.Background()
	cfg := server.Config{Root: t.TempDir()}
	run := func(args ...string) (string, error) {
		var b bytes.Buffer
		err := command(ctx, cfg, args, &b)
		return b.String(), err
	}
	out, err := run("device", "add", "glacier-1")
	if err != nil {
		t.Fatal(err)
	}
	token := regexp.MustCompile(`\n([A-Z2-7]{52})\n$`).FindStringSubmatch(out)
	if token == nil {
		t.Fatalf("device add printed %q", out)
	}
	db, err := state.Open(ctx, server.DatabaseFor(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ds, _ := db.Devices(ctx)
	if len(ds) != 1 || ds[0].TokenSHA256 != sha256.Sum256([]byte(token[1])) {
		t.Errorf("devices %+v", ds)
	}
	if _, err := run("device", "add", "glacier-1"); !errors.Is(err, state.ErrExists) {
		t.Errorf("adding twice: %v", err)
	}
	for _, bad := range []string{"../etc", ".hidden", "a b", strings.Repeat("x", 65)} {
		if _, err := run("device", "add", bad); err == nil {
			t.Errorf("device add %q accepted", bad)
		}
	}
	if out, _ := run("device", "list"); !strings.HasPrefix(out, "glacier-1 ") || !strings.Contains(out, "never seen") {
		t.Errorf("device list: %q", out)
	}
	out, err = run("device", "token", "glacier-1")
	if err != nil || strings.Contains(out, token[1]) {
		t.Errorf("device token: %q, %v", out, err)
	}
	if _, err := run("device", "remove", "glacier-1"); err != nil {
		t.Error(err)
	}
	if _, err := run("device", "remove", "glacier-1"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("removing twice: %v", err)
	}

	out, err = run("operator", "add", "ops")
	pw := regexp.MustCompile(`: ([A-Z2-7]{26})\n$`).FindStringSubmatch(out)
	if err != nil || pw == nil {
		t.Fatalf("operator add: %q, %v", out, err)
	}
	h, _ := db.PasswordHash(ctx, "ops")
	if ok, _, _ := operator.CheckPassword(ctx, h, pw[1]); !ok {
		t.Error("the printed password does not match")
	}
	if _, err := run("operator", "password", "nobody"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("password of an unknown operator: %v", err)
	}
	for _, bad := range [][]string{{"device"}, {"device", "add"}, {"device", "add", "a", "b"}, {"frobnicate", "x"}} {
		if _, err := run(bad...); err == nil || !strings.HasPrefix(err.Error(), "usage:") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// Flags given on the command line override the file; the others keep it.
func TestConfiguration(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cloudd.json")
	os.WriteFile(p, []byte(`{"root": "/from/file", "listen": ":9000", "alerts": {"silent_after": "20m"}}`), 0o600)
	for name, value := range map[string]string{"config": p, "listen": ":7000"} {
		if err := flag.Set(name, value); err != nil {
			t.Fatal(err)
		}
	}
	c, err := configuration()
	if err != nil {
		t.Fatal(err)
	}
	if c.Root != "/from/file" || c.Listen != ":7000" || c.AdminListen != server.DefaultAdminListen ||
		time.Duration(c.Alerts.SilentAfter) != 20*time.Minute || c.Ingest.MaxSize != 256<<20 {
		t.Errorf("configuration %+v", c)
	}
}

// Public links: printed once with the public URL, kept as a hash, listed,
// revoked by ID or by device.
func TestLinkCommands(t *testing.T) {
	ctx := context.Background()
	cfg := server.Config{Root: t.TempDir(), PublicURL: "https://cloud.example.com/"}
	run := func(args ...string) (string, error) {
		var b bytes.Buffer
		err := command(ctx, cfg, args, &b)
		return b.String(), err
	}
	if _, err := run("device", "add", "glacier-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("link", "add", "nosuch"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("a link to an unknown device: %v", err)
	}
	out, err := run("link", "add", "glacier-1", "for the architect")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^link 1 to glacier-1 .*\nhttps://cloud\.example\.com/p/([A-Z2-7]{26})/\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("link add printed %q", out)
	}
	db, err := state.Open(ctx, server.DatabaseFor(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if dev, err := db.LinkDevice(ctx, sha256.Sum256([]byte(m[1]))); dev != "glacier-1" || err != nil {
		t.Errorf("the printed token opens %q, %v", dev, err)
	}
	run("link", "add", "glacier-1")
	out, _ = run("link", "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(lines[0], "live  for the architect") || strings.Contains(out, m[1]) {
		t.Errorf("link list: %q", out)
	}
	if out, err := run("link", "revoke", "1"); err != nil || out != "link 1 revoked\n" {
		t.Errorf("revoke 1: %q, %v", out, err)
	}
	if _, err := db.LinkDevice(ctx, sha256.Sum256([]byte(m[1]))); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("a revoked token: %v", err)
	}
	if _, err := run("link", "revoke", "1"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("revoking twice: %v", err)
	}
	if out, err := run("link", "revoke", "glacier-1"); err != nil || out != "1 link(s) to glacier-1 revoked\n" {
		t.Errorf("revoke glacier-1: %q, %v", out, err)
	}
	if _, err := run("link", "revoke", "glacier-1"); err == nil {
		t.Error("revoking a device with no live link said nothing")
	}
	if _, err := run("link", "frobnicate"); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("an unknown link command: %v", err)
	}
}
