package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cloudd.json")
	os.WriteFile(p, []byte(`{
  "root": "/srv/lapsebox",
  "database": "postgres://cloudd@db.internal/lapsebox?sslmode=verify-full",
  "listen": ":443", "tls_cert": "/etc/lapsebox/cert.pem", "tls_key": "/etc/lapsebox/key.pem",
  "alerts": {"silent_after": "20m", "grace": {"dark": "2h"}},
  "smtp": {"server": "smtp.example.com:587", "user": "u", "password": "p", "from": "a@example.com", "to": ["b@example.com"]}
}`), 0o600)
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Alerts.rules()
	if err != nil || r.SilentAfter != 20*time.Minute || r.Grace["dark"] != 2*time.Hour || c.SMTP.To[0] != "b@example.com" {
		t.Errorf("%+v %+v %v", c, r, err)
	}
	for _, bad := range []struct{ doc, want string }{
		{`{"root": "x", "lsten": ":80"}`, `unknown field "lsten"`},
		{`{"root": "x",
"alerts": {"silent_after": "soon"}}`, `line 2: "soon": want a duration`},
		{`{"root": "x",
"alerts": {"grace": {"darkness": "1h"}}}`, ""},
	} {
		os.WriteFile(p, []byte(bad.doc), 0o600)
		c, err := LoadConfig(p)
		if err == nil {
			_, err = c.Alerts.rules()
		}
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.doc, err, bad.want)
		}
	}
}
