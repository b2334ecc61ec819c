package webdav

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/internal/testtool"
)

const (
	testUser     = "photographer"
	testPassword = "s3cret-dav-password"
)

// server is a real WebDAV server (nginx or Apache) on 127.0.0.1, run in
// the foreground with everything under a temporary directory, that can
// be stopped and started again on the same files.
type server struct {
	uploadtest.Server
	t    *testing.T
	kind string
	dir  string
	root string // the filesystem folder behind /dav/
	// public is the host:port clients use (a proxy's; "": the server's
	// own): Apache checks MOVE's Destination against its ServerName.
	public string
}

// startServer starts kind, reachable by clients directly.
func startServer(t *testing.T, kind string) *server {
	t.Helper()
	s := newServer(t, kind)
	s.start()
	return s
}

// newServer prepares a server without starting it: set public first
// when a proxy sits in front. It stops with the test.
func newServer(t *testing.T, kind string) *server {
	t.Helper()
	bin := testtool.Program(t, map[string]string{"nginx": "nginx", "apache": "apache2"}[kind])
	if kind == "nginx" {
		testtool.File(t, testtool.NginxDAV)
	}
	dir := t.TempDir()
	// Apache's children run as www-data: let them reach and write it.
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o777)
	s := &server{t: t, kind: kind, dir: dir, root: filepath.Join(dir, "www", "dav")}
	for _, d := range []string{s.root, filepath.Join(dir, "run"), filepath.Join(dir, "lock"), filepath.Join(dir, "body")} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o777)
	}
	sum := sha1.Sum([]byte(testPassword))
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(testUser+":{SHA}"+base64.StdEncoding.EncodeToString(sum[:])+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Server = uploadtest.Server{Name: kind, Dir: dir, Logs: []string{filepath.Join(dir, "error.log")},
		Command: func(addr string) (*exec.Cmd, error) {
			args, err := s.config(addr)
			if err != nil {
				return nil, err
			}
			cmd := exec.Command(bin, args...)
			cmd.Dir = dir
			return cmd, nil
		}}
	t.Cleanup(s.Stop)
	return s
}

// start starts the server, failing the test if it cannot.
func (s *server) start() {
	s.t.Helper()
	if err := s.Start(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *server) addr() string { return s.Addr() }

// url is the collection's URL as clients see it.
func (s *server) url() string {
	if s.public == "" {
		return s.directURL()
	}
	return "http://" + s.public + "/dav/"
}

// directURL bypasses any proxy.
func (s *server) directURL() string { return "http://" + s.Addr() + "/dav/" }

// config writes the server's configuration for listening on addr and
// returns its command line.
func (s *server) config(addr string) ([]string, error) {
	d := s.dir
	public := s.public
	if public == "" {
		public = addr
	}
	switch s.kind {
	case "nginx":
		conf := uploadtest.NginxDAVConf(d, addr)
		p := filepath.Join(d, "nginx.conf")
		return []string{"-p", d, "-c", p, "-e", d + "/error.log"}, os.WriteFile(p, []byte(conf), 0o644)
	default:
		mods := ""
		for _, m := range []string{"mpm_event", "authn_core", "authn_file", "authz_core", "authz_user", "auth_basic", "dav", "dav_fs"} {
			mods += fmt.Sprintf("LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so\n", m, m)
		}
		conf := mods + `ServerRoot ` + d + `
PidFile ` + d + `/run/httpd.pid
DefaultRuntimeDir ` + d + `/run
Listen ` + addr + `
ServerName ` + public + `
User www-data
Group www-data
ErrorLog ` + d + `/error.log
LogLevel warn
StartServers 1
ServerLimit 1
ThreadsPerChild 16
MaxRequestWorkers 16
DocumentRoot ` + d + `/www
DavLockDB ` + d + `/lock/DavLock
<Directory ` + d + `/www>
	Require all granted
</Directory>
<Location /dav/>
	Dav On
	AuthType Basic
	AuthName lapsebox
	AuthUserFile ` + d + `/htpasswd
	Require valid-user
</Location>
`
		p := filepath.Join(d, "httpd.conf")
		return []string{"-d", d, "-f", p, "-DFOREGROUND"}, os.WriteFile(p, []byte(conf), 0o644)
	}
}
