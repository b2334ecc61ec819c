package state_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/cloud/state"
	"github.com/lapsebox/lapsebox/cloud/state/statetest"
)

func TestMain(m *testing.M) { os.Exit(statetest.Main(m)) }

var (
	ctx = context.Background()
	t0  = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
)

func addDevice(t *testing.T, db *state.DB, name string) {
	t.Helper()
	if err := db.AddDevice(ctx, state.Device{Name: name, TokenSHA256: sha256.Sum256([]byte(name)), Created: t0}); err != nil {
		t.Fatal(err)
	}
}

func TestMigrations(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dsn string) {
		db := statetest.Open(t, dsn)
		addDevice(t, db, "a")
		// Opening again applies nothing and keeps the data.
		db2 := statetest.Open(t, dsn)
		if ok, err := db2.HasDevice(ctx, "a"); !ok || err != nil {
			t.Fatalf("after reopening: HasDevice = %v, %v", ok, err)
		}
		// Several cloudd starting at once on one database.
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := state.Open(ctx, dsn)
				if err == nil {
					db.Close()
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent open: %v", err)
			}
		}
	})
}

// A database a newer cloudd migrated further is refused, not used.
func TestMigrationsRefuseNewerSchema(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dsn string) {
		db := statetest.Open(t, dsn)
		if err := state.ExecForTest(db, `INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, 'from the future', 0)`, state.SchemaVersion()+1); err != nil {
			t.Fatal(err)
		}
		_, err := state.Open(ctx, dsn)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("version %d", state.SchemaVersion()+1)) {
			t.Fatalf("Open of a newer schema: %v", err)
		}
	})
}

func TestDevices(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dsn string) {
		db := statetest.Open(t, dsn)
		addDevice(t, db, "glacier-1")
		addDevice(t, db, "crane.2")
		err := db.AddDevice(ctx, state.Device{Name: "glacier-1", Created: t0})
		if !errors.Is(err, state.ErrExists) {
			t.Errorf("adding a device twice: %v, want ErrExists", err)
		}
		ds, err := db.Devices(ctx)
		if err != nil || len(ds) != 2 || ds[0].Name != "crane.2" || ds[1].TokenSHA256 != sha256.Sum256([]byte("glacier-1")) || !ds[1].Created.Equal(t0) {
			t.Fatalf("Devices = %+v, %v", ds, err)
		}
		if err := db.SetDeviceToken(ctx, "crane.2", sha256.Sum256([]byte("new"))); err != nil {
			t.Fatal(err)
		}
		if err := db.SetDeviceToken(ctx, "nope", [32]byte{}); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("SetDeviceToken(unknown) = %v", err)
		}
		if _, err := db.Status(ctx, "crane.2"); err != nil {
			t.Errorf("a new device has no status row: %v", err)
		}
		if err := db.RemoveDevice(ctx, "crane.2"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Status(ctx, "crane.2"); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("status of a removed device: %v", err)
		}
		if err := db.RemoveDevice(ctx, "crane.2"); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("removing twice: %v", err)
		}
		if err := db.Update(ctx, "crane.2", func(*state.Tx) error { return nil }); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("Update of a removed device: %v", err)
		}
	})
}

func TestStatusAndLog(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dsn string) {
		db := statetest.Open(t, dsn)
		addDevice(t, db, "d")
		days, dbm := 12.5, -95
		for i := range 3 {
			err := db.Update(ctx, "d", func(tx *state.Tx) error {
				s := tx.Status()
				s.LastSeen = t0.Add(time.Duration(i) * 5 * time.Minute)
				s.Heartbeats++
				s.Heartbeat = []byte(`{"v":1}`)
				s.Queue = int64(10 * i)
				s.AutonomyDays, s.SignalDBM, s.Version = &days, &dbm, "v1.2"
				if err := tx.PutStatus(s); err != nil {
					return err
				}
				return tx.LogHeartbeat(state.LogEntry{At: s.LastSeen, Queue: s.Queue, Missed: i})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		s, err := db.Status(ctx, "d")
		if err != nil {
			t.Fatal(err)
		}
		if s.Heartbeats != 3 || s.Queue != 20 || *s.AutonomyDays != 12.5 || *s.SignalDBM != -95 || s.Version != "v1.2" ||
			!s.LastSeen.Equal(t0.Add(10*time.Minute)) || string(s.Heartbeat) != `{"v":1}` {
			t.Errorf("Status = %+v", s)
		}
		db.Update(ctx, "d", func(tx *state.Tx) error {
			log, err := tx.Log(t0.Add(5 * time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if len(log) != 2 || log[0].Missed != 1 || log[1].Queue != 20 {
				t.Errorf("Log = %+v", log)
			}
			return nil
		})
		if err := db.Prune(ctx, t0, t0.Add(6*time.Minute), t0); err != nil {
			t.Fatal(err)
		}
		db.Update(ctx, "d", func(tx *state.Tx) error {
			if log, _ := tx.Log(time.Time{}); len(log) != 1 {
				t.Errorf("after pruning, Log = %+v", log)
			}
			return nil
		})
	})
}

// Two cloudd updating one device do not lose each other's writes.
func TestUpdateIsExclusive(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dsn string) {
		a, b := statetest.Open(t, dsn), statetest.Open(t, dsn)
		addDevice(t, a, "d")
		var wg sync.WaitGroup
		for _, db := range []*state.DB{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 25 {
					err := db.Update(ctx, "d", func(tx *state.Tx) error {
						s := tx.Status()
						s.Heartbeats++
						return tx.PutStatus(s)
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if s, _ := a.Status(ctx, "d"); s.Heartbeats != 100 {
			t.Errorf("after 100 increments in 4 goroutines on 2 handles: %d", s.Heartbeats)
		}
	})
}

func TestPhotos(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dsn string) {
		db := statetest.Open(t, dsn)
		addDevice(t, db, "d")
		luma := 42.5
		newer := state.Photo{Name: "b.jpg", Received: t0, Captured: t0, Bytes: 1000, Luma: &luma, Width: 160, Height: 120}
		if ok, err := db.PutPhoto(ctx, "d", newer, []byte("thumb-b")); !ok || err != nil {
			t.Fatalf("PutPhoto = %v, %v", ok, err)
		}
		older := state.Photo{Name: "a.jpg", Received: t0.Add(time.Minute), Captured: t0.Add(-time.Hour), Bytes: 5}
		if ok, err := db.PutPhoto(ctx, "d", older, []byte("thumb-a")); ok || err != nil {
			t.Errorf("an older photo replaced the newer: %v, %v", ok, err)
		}
		th, name, err := db.Thumb(ctx, "d")
		if string(th) != "thumb-b" || name != "b.jpg" || err != nil {
			t.Errorf("Thumb = %q, %q, %v", th, name, err)
		}
		s, _ := db.Status(ctx, "d")
		if s.Photo.Name != "b.jpg" || *s.Photo.Luma != 42.5 || s.Photo.Width != 160 || !s.Photo.Captured.Equal(t0) {
			t.Errorf("Photo = %+v", s.Photo)
		}
		if c, err := db.PhotoCaptured(ctx, "d"); !c.Equal(t0) || err != nil {
			t.Errorf("PhotoCaptured = %v, %v", c, err)
		}
		if _, _, err := db.Thumb(ctx, "nope"); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("Thumb(unknown) = %v", err)
		}
	})
}

func TestAlertsAndNotifications(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dsn string) {
		db := statetest.Open(t, dsn)
		addDevice(t, db, "d")
		err := db.Update(ctx, "d", func(tx *state.Tx) error {
			if err := tx.PutAlert(state.Alert{Kind: "silent", State: state.Pending, Severity: "critical", Since: t0, Message: "m1"}); err != nil {
				return err
			}
			if err := tx.PutAlert(state.Alert{Kind: "silent", State: state.Firing, Severity: "critical", Since: t0, Fired: t0.Add(time.Minute), Message: "m2"}); err != nil {
				return err
			}
			if err := tx.PutAlert(state.Alert{Kind: "dark", State: state.Pending, Severity: "warning", Since: t0, Message: "m3"}); err != nil {
				return err
			}
			id, err := tx.AddEvent(state.Event{Kind: "silent", Event: state.Fired, Severity: "critical", Message: "m2", At: t0})
			if err != nil {
				return err
			}
			for _, ch := range []string{"webhook", "email"} {
				if err := tx.Notify(id, ch, []byte(`{"x":1}`), t0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		firing, err := db.FiringAlerts(ctx)
		if err != nil || len(firing) != 1 || firing[0].Message != "m2" || !firing[0].Fired.Equal(t0.Add(time.Minute)) {
			t.Errorf("FiringAlerts = %+v, %v", firing, err)
		}
		all, _ := db.DeviceAlerts(ctx, "d")
		if len(all) != 2 || all[0].Kind != "dark" {
			t.Errorf("DeviceAlerts = %+v", all)
		}
		db.Update(ctx, "d", func(tx *state.Tx) error { return tx.DeleteAlert("dark") })
		if all, _ := db.DeviceAlerts(ctx, "d"); len(all) != 1 {
			t.Errorf("after DeleteAlert: %+v", all)
		}
		ev, err := db.Events(ctx, "d", 10)
		if err != nil || len(ev) != 1 || ev[0].Device != "d" || ev[0].Event != state.Fired {
			t.Errorf("Events = %+v, %v", ev, err)
		}

		// Not due yet: nothing to claim.
		if ns, _ := db.Claim(ctx, "A", t0.Add(-time.Second), time.Minute, 10); len(ns) != 0 {
			t.Errorf("claimed before due: %+v", ns)
		}
		a, err := db.Claim(ctx, "A", t0, time.Minute, 1)
		if err != nil || len(a) != 1 || string(a[0].Payload) != `{"x":1}` {
			t.Fatalf("Claim = %+v, %v", a, err)
		}
		b, _ := db.Claim(ctx, "B", t0, time.Minute, 10)
		if len(b) != 1 || b[0].ID == a[0].ID {
			t.Fatalf("second claim = %+v (first %+v)", b, a)
		}
		if ns, _ := db.Claim(ctx, "C", t0.Add(30*time.Second), time.Minute, 10); len(ns) != 0 {
			t.Errorf("claimed while leased: %+v", ns)
		}
		if ok, err := db.Sent(ctx, a[0].ID, "A", t0); !ok || err != nil {
			t.Errorf("Sent = %v, %v", ok, err)
		}
		// B's lease runs out: C takes the notification over, and B's
		// late report does not count.
		c, _ := db.Claim(ctx, "C", t0.Add(2*time.Minute), time.Minute, 10)
		if len(c) != 1 || c[0].ID != b[0].ID {
			t.Fatalf("claim after the lease ran out = %+v", c)
		}
		if ok, _ := db.Sent(ctx, b[0].ID, "B", t0); ok {
			t.Error("a sender whose lease was taken over recorded its notification")
		}
		if err := db.Failed(ctx, c[0].ID, "C", t0.Add(10*time.Minute), false, "connection refused"); err != nil {
			t.Fatal(err)
		}
		if ns, _ := db.Claim(ctx, "C", t0.Add(9*time.Minute), time.Minute, 10); len(ns) != 0 {
			t.Errorf("claimed before its retry time: %+v", ns)
		}
		d, _ := db.Claim(ctx, "C", t0.Add(10*time.Minute), time.Minute, 10)
		if len(d) != 1 || d[0].Attempts != 1 {
			t.Fatalf("retry claim = %+v", d)
		}
		db.Failed(ctx, d[0].ID, "C", t0.Add(11*time.Minute), true, "gave up")
		if ns, _ := db.Claim(ctx, "C", t0.Add(time.Hour), time.Minute, 10); len(ns) != 0 {
			t.Errorf("claimed a notification given up: %+v", ns)
		}
		counts, err := db.NotificationCounts(ctx)
		if err != nil || counts["webhook"]["sent"]+counts["email"]["sent"] != 1 || counts["webhook"]["failed"]+counts["email"]["failed"] != 1 {
			t.Errorf("NotificationCounts = %v, %v", counts, err)
		}
	})
}

// Claims racing from two handles never hand one notification to both.
func TestClaimRace(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dsn string) {
		a, b := statetest.Open(t, dsn), statetest.Open(t, dsn)
		addDevice(t, a, "d")
		const n = 60
		a.Update(ctx, "d", func(tx *state.Tx) error {
			for range n {
				id, err := tx.AddEvent(state.Event{Kind: "k", Event: state.Fired, Severity: "warning", At: t0})
				if err != nil {
					return err
				}
				if err := tx.Notify(id, "webhook", []byte("{}"), t0); err != nil {
					return err
				}
			}
			return nil
		})
		var (
			mu   sync.Mutex
			seen = map[int64]string{}
			wg   sync.WaitGroup
		)
		for i, db := range []*state.DB{a, b, a, b} {
			owner := fmt.Sprint("owner", i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					ns, err := db.Claim(ctx, owner, t0, time.Hour, 3)
					if err != nil {
						t.Error(err)
						return
					}
					if len(ns) == 0 {
						return
					}
					mu.Lock()
					for _, x := range ns {
						if prev, dup := seen[x.ID]; dup {
							t.Errorf("notification %d claimed by %s and %s", x.ID, prev, owner)
						}
						seen[x.ID] = owner
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != n {
			t.Errorf("claimed %d of %d notifications", len(seen), n)
		}
	})
}

func TestOperatorsAndSessions(t *testing.T) {
	statetest.Run(t, func(t *testing.T, dsn string) {
		db := statetest.Open(t, dsn)
		if err := db.AddOperator(ctx, "admin", "h1", t0); err != nil {
			t.Fatal(err)
		}
		if err := db.AddOperator(ctx, "admin", "h2", t0); !errors.Is(err, state.ErrExists) {
			t.Errorf("adding an operator twice: %v", err)
		}
		if h, err := db.PasswordHash(ctx, "admin"); h != "h1" || err != nil {
			t.Errorf("PasswordHash = %q, %v", h, err)
		}
		if _, err := db.PasswordHash(ctx, "eve"); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("PasswordHash(unknown) = %v", err)
		}
		s := state.Session{IDSHA256: "abc", Operator: "admin", CSRF: "tok", Created: t0, Expires: t0.Add(time.Hour)}
		if err := db.AddSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		got, err := db.Session(ctx, "abc", t0.Add(time.Minute))
		if err != nil || got.CSRF != "tok" || got.Operator != "admin" {
			t.Errorf("Session = %+v, %v", got, err)
		}
		if _, err := db.Session(ctx, "abc", t0.Add(time.Hour)); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("an expired session: %v", err)
		}
		if err := db.UpgradeHash(ctx, "admin", "h1", "h1b"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Session(ctx, "abc", t0); err != nil {
			t.Errorf("upgrading the hash ended the session: %v", err)
		}
		// A new password ends every session of the operator.
		if err := db.SetPassword(ctx, "admin", "h3", t0); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Session(ctx, "abc", t0); !errors.Is(err, state.ErrNotFound) {
			t.Errorf("session after a password change: %v", err)
		}
		if h, _ := db.PasswordHash(ctx, "admin"); h != "h3" {
			t.Errorf("hash after SetPassword = %q", h)
		}
		if ops, _ := db.Operators(ctx); len(ops) != 1 || ops[0] != "admin" {
			t.Errorf("Operators = %v", ops)
		}
	})
}

// The SQLite file holds token and password hashes: only its owner reads it.
func TestSQLiteFileMode(t *testing.T) {
	dsn := statetest.SQLite(t)
	statetest.Open(t, dsn)
	path := strings.TrimPrefix(dsn, "sqlite:")
	for _, p := range []string{path, path[:strings.LastIndex(path, "/")]} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", p, fi.Mode().Perm())
		}
	}
}
