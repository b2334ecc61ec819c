package webdav

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	testUser     = "photographer"
	testPassword = "s3cret-dav-password"
)

// server is a real WebDAV server (nginx or Apache) on 127.0.0.1, run in
// the foreground with everything under a temporary directory, that can
// be stopped and started again on the same port and files.
type server struct {
	t    *testing.T
	kind string // "nginx" or "apache"
	dir  string
	root string // the filesystem folder behind /dav/
	port int
	// public is the host:port clients use (a proxy's): Apache checks
	// MOVE's Destination against its ServerName.
	public string
	cmd    *exec.Cmd
	exited chan struct{}
}

// startServer starts kind, reachable by clients at public ("" : directly).
func startServer(t *testing.T, kind string) *server {
	t.Helper()
	s := newServer(t, kind)
	s.start()
	t.Cleanup(s.stop)
	return s
}

// newServer prepares a server without starting it: set public first
// when a proxy sits in front.
func newServer(t *testing.T, kind string) *server {
	t.Helper()
	bin := map[string]string{"nginx": "nginx", "apache": "apache2"}[kind]
	if _, err := lookPath(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (scripts/install-deps installs it)", bin)
		}
		t.Skipf("%s is not installed (scripts/install-deps installs it)", bin)
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s.public = s.addr()
	return s
}

func lookPath(bin string) (string, error) {
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(d, bin); fileExists(p) {
			return p, nil
		}
	}
	return exec.LookPath(bin)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func (s *server) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// url is the collection's URL as clients see it.
func (s *server) url() string { return "http://" + s.public + "/dav/" }

// directURL bypasses any proxy.
func (s *server) directURL() string { return "http://" + s.addr() + "/dav/" }

func (s *server) config() (string, []string) {
	d := s.dir
	switch s.kind {
	case "nginx":
		conf := `daemon off;
master_process off;
user root;
worker_processes 1;
pid ` + d + `/run/nginx.pid;
error_log ` + d + `/error.log warn;
load_module /usr/lib/nginx/modules/ngx_http_dav_ext_module.so;
events { worker_connections 128; }
http {
	access_log off;
	client_body_temp_path ` + d + `/body;
	proxy_temp_path ` + d + `/run/proxy;
	fastcgi_temp_path ` + d + `/run/fastcgi;
	uwsgi_temp_path ` + d + `/run/uwsgi;
	scgi_temp_path ` + d + `/run/scgi;
	client_max_body_size 0;
	server {
		listen ` + s.addr() + `;
		root ` + d + `/www;
		location /dav/ {
			dav_methods PUT DELETE MKCOL COPY MOVE;
			dav_ext_methods PROPFIND OPTIONS;
			dav_access user:rw group:r all:r;
			auth_basic "lapsebox";
			auth_basic_user_file ` + d + `/htpasswd;
		}
	}
}
`
		p := filepath.Join(d, "nginx.conf")
		os.WriteFile(p, []byte(conf), 0o644)
		return "nginx", []string{"-p", d, "-c", p, "-e", d + "/error.log"}
	default:
		mods := ""
		for _, m := range []string{"mpm_event", "authn_core", "authn_file", "authz_core", "authz_user", "auth_basic", "dav", "dav_fs"} {
			mods += fmt.Sprintf("LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so\n", m, m)
		}
		conf := mods + `ServerRoot ` + d + `
PidFile ` + d + `/run/httpd.pid
DefaultRuntimeDir ` + d + `/run
Listen ` + s.addr() + `
ServerName ` + s.public + `
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
		os.WriteFile(p, []byte(conf), 0o644)
		return "apache2", []string{"-d", d, "-f", p, "-DFOREGROUND"}
	}
}

func (s *server) start() {
	s.t.Helper()
	bin, args := s.config()
	path, err := lookPath(bin)
	if err != nil {
		s.t.Fatal(err)
	}
	s.cmd = exec.Command(path, args...)
	s.cmd.Dir = s.dir
	out, _ := os.Create(filepath.Join(s.dir, "stdout.log"))
	s.cmd.Stdout, s.cmd.Stderr = out, out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting %s: %v", s.kind, err)
	}
	s.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(s.cmd, s.exited)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr(), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-s.exited:
			s.t.Fatalf("%s exited at start: %s", s.kind, s.logs())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s does not answer on %s: %s", s.kind, s.addr(), s.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the server and its children (Apache's) and waits for them.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	// Apache's children may outlive the parent for a moment.
	for i := 0; i < 100; i++ {
		if c, err := net.DialTimeout("tcp", s.addr(), 100*time.Millisecond); err == nil {
			c.Close()
			time.Sleep(20 * time.Millisecond)
			continue
		}
		break
	}
	s.cmd = nil
}

func (s *server) logs() string {
	var b strings.Builder
	for _, f := range []string{"stdout.log", "error.log"} {
		data, _ := os.ReadFile(filepath.Join(s.dir, f))
		b.Write(data)
	}
	return b.String()
}
