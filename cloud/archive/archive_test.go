package archive_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapsebox/lapsebox/appliance/upload/uploadtest"
	"github.com/lapsebox/lapsebox/cloud/archive"
)

const prefix = "lapsebox/"

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func photo(seed uint64, size int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// replica is a second store under test and where its copy of a key is
// on disk, for damaging it behind the store's back.
type replica struct {
	name  string
	store archive.Store
	file  func(key string) string
}

func dirReplica(t testing.TB) replica {
	t.Helper()
	root := t.TempDir()
	d, err := archive.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return replica{"dir", d, func(key string) string { return filepath.Join(root, filepath.FromSlash(key)) }}
}

func s3Replica(t testing.TB) (replica, *uploadtest.S3Store) {
	t.Helper()
	srv := uploadtest.StartVersitygw(t, false)
	s, err := archive.NewS3(archive.S3Config{Endpoint: srv.URL(), Bucket: uploadtest.S3Bucket, Prefix: prefix,
		AccessKey: uploadtest.S3Access, SecretKey: uploadtest.S3Secret, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	return replica{"versitygw", s, func(key string) string {
		return filepath.Join(srv.Root, uploadtest.S3Bucket, filepath.FromSlash(prefix+key))
	}}, srv
}

func newArchive(t testing.TB, r archive.Store) (*archive.Archive, string) {
	t.Helper()
	root := t.TempDir()
	a, err := archive.New(root, r, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return a, root
}

// receive does what ingest does with a photo: the local copy, then
// Commit.
func receive(t testing.TB, a *archive.Archive, key string, data []byte) {
	t.Helper()
	ctx := context.Background()
	if err := a.Local.Put(ctx, key, bytes.NewReader(data), int64(len(data)), sum(data)); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(ctx, key, sum(data)); err != nil {
		t.Fatal(err)
	}
}

// damages are what happens to a copy behind the archive's back.
var damages = map[string]func(t *testing.T, file string){
	"deleted": func(t *testing.T, file string) {
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
	},
	"truncated": func(t *testing.T, file string) {
		if err := os.Truncate(file, 1000); err != nil {
			t.Fatal(err)
		}
	},
	"bit-flipped": func(t *testing.T, file string) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x10
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
	},
}

// check fails unless key's both copies hold data.
func check(t *testing.T, a *archive.Archive, key string, data []byte) {
	t.Helper()
	ctx := context.Background()
	for _, st := range []archive.Store{a.Local, a.Replica} {
		r, err := st.Open(ctx, key)
		if err != nil {
			t.Errorf("%s: %s: %v", st, key, err)
			continue
		}
		var b bytes.Buffer
		b.ReadFrom(r)
		r.Close()
		if sum(b.Bytes()) != sum(data) {
			t.Errorf("%s: %s holds %d bytes with sha256 %s, want %d bytes with %s", st, key, b.Len(), sum(b.Bytes()), len(data), sum(data))
		}
	}
}

// TestScrub damages copies on both stores, a dir and versitygw, in every
// way, and checks that one scrub repairs each from the other, reports
// what it did, leaves both copies equal to the record, and that a photo
// whose copies are both damaged is reported unrepairable, not "repaired"
// from a bad copy.
func TestScrub(t *testing.T) {
	s3r, _ := s3Replica(t)
	for _, rep := range []replica{dirReplica(t), s3r} {
		t.Run(rep.name, func(t *testing.T) {
			a, root := newArchive(t, rep.store)
			localFile := func(key string) string { return filepath.Join(root, filepath.FromSlash(key)) }
			photos := map[string][]byte{}
			want := archive.Report{}
			var n uint64
			next := func() (string, []byte) {
				n++
				key := fmt.Sprintf("cam-%d/2026/12/03/IMG_%04d.JPG", n%2, n)
				data := photo(n, 20000+int(n)*37)
				photos[key] = data
				receive(t, a, key, data)
				return key, data
			}
			for i := 0; i < 3; i++ {
				next() // intact
				want.Checked++
			}
			for what, damage := range damages {
				key, _ := next()
				damage(t, localFile(key))
				want.RepairedLocal++
				key, _ = next()
				damage(t, rep.file(key))
				want.RepairedReplica++
				t.Logf("%s: local and replica copies %s", what, what)
			}
			// Both copies bad: nothing to repair from.
			lost, _ := next()
			damages["bit-flipped"](t, localFile(lost))
			damages["truncated"](t, rep.file(lost))
			want.Unrepairable++

			r, err := a.Scrub(context.Background(), 0)
			if err != nil {
				t.Fatal(err)
			}
			got := archive.Report{Checked: r.Checked, RepairedLocal: r.RepairedLocal, RepairedReplica: r.RepairedReplica,
				Unrepairable: r.Unrepairable, Recorded: r.Recorded, Orphans: r.Orphans, Refused: r.Refused, Failed: r.Failed}
			if got.String() != want.String() {
				t.Errorf("scrub: %s\nwant    %s\nproblems: %q", &got, &want, r.Problems)
			}
			if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], lost) || !strings.Contains(r.Problems[0], "UNREPAIRABLE") {
				t.Errorf("problems = %q, want the unrepairable %s", r.Problems, lost)
			}
			for key, data := range photos {
				if key != lost {
					check(t, a, key, data)
				}
			}
			// The damaged copies of the lost photo stay as they were:
			// evidence, not overwritten by one another.
			if st, err := os.Stat(rep.file(lost)); err != nil || st.Size() != 1000 {
				t.Errorf("the lost photo's replica: %v, %v", st, err)
			}
			// A second scrub finds everything else in order.
			r, err = a.Scrub(context.Background(), 0)
			if err != nil {
				t.Fatal(err)
			}
			if r.Checked != int64(len(photos)-1) || r.Unrepairable != 1 || r.RepairedLocal+r.RepairedReplica != 0 {
				t.Errorf("second scrub: %s", r)
			}
			// The status names an S3 store, not a directory's path.
			name := rep.store.String()
			if rep.name == "dir" {
				name = "directory"
			}
			if st := a.Status(); st.LastScrub != r || st.Replica != name {
				t.Errorf("Status = %+v, want the last report and replica %q", st, name)
			}
		})
	}
}

// TestScrubRecords: photos received before the archive kept records get
// one from their copies; when the local copy was damaged meanwhile, the
// sum an S3 replica recorded at upload is the reference, not the damaged
// bytes.
func TestScrubRecords(t *testing.T) {
	rep, _ := s3Replica(t)
	a, root := newArchive(t, rep.store)
	good, bad := photo(1, 5000), photo(2, 6000)
	receive(t, a, "cam/a.jpg", good)
	receive(t, a, "cam/b.jpg", bad)
	os.RemoveAll(filepath.Join(root, archive.SumsDir))
	damages["bit-flipped"](t, filepath.Join(root, "cam", "b.jpg"))
	r, err := a.Scrub(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Recorded != 2 || r.Checked != 1 || r.RepairedLocal != 1 {
		t.Errorf("scrub: %s", r)
	}
	check(t, a, "cam/a.jpg", good)
	check(t, a, "cam/b.jpg", bad)
	if s, _ := a.Sums.Get("cam/b.jpg"); s != sum(bad) {
		t.Errorf("record of cam/b.jpg = %q, want %s", s, sum(bad))
	}
}

// TestCommitIdempotent: a retried Commit finds the replica's copy and
// does not write it again; a Commit the replica refuses fails, and
// counts.
func TestCommitIdempotent(t *testing.T) {
	rep := dirReplica(t)
	a, _ := newArchive(t, rep.store)
	data := photo(3, 4000)
	receive(t, a, "cam/c.jpg", data)
	before, err := os.Stat(rep.file("cam/c.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(context.Background(), "cam/c.jpg", sum(data)); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(rep.file("cam/c.jpg"))
	if !os.SameFile(before, after) {
		t.Error("a second Commit rewrote the replica's copy")
	}
	// A failing replica counts.
	os.RemoveAll(rep.file("cam"))
	os.WriteFile(rep.file("cam"), nil, 0o644) // no directory can be made there
	if err := a.Commit(context.Background(), "cam/c.jpg", sum(data)); err == nil {
		t.Error("Commit to a broken replica succeeded")
	}
	if st := a.Status(); st.ReplicationFailures != 1 {
		t.Errorf("ReplicationFailures = %d, want 1", st.ReplicationFailures)
	}
}

// TestStaleRecord: a record left by a photo an operator removed is
// replaced when the name is used again by a photo ingest verified.
func TestStaleRecord(t *testing.T) {
	a, _ := newArchive(t, dirReplica(t).store)
	old, data := photo(8, 100), photo(9, 200)
	a.Sums.Put("cam/d.jpg", sum(old))
	receive(t, a, "cam/d.jpg", data)
	if s, _ := a.Sums.Get("cam/d.jpg"); s != sum(data) {
		t.Errorf("record = %s, want %s", s, sum(data))
	}
	check(t, a, "cam/d.jpg", data)
}

// TestPutRefusesWrongBytes: neither store keeps bytes that do not hash
// to the sum they are put with, and what the key held stays.
func TestPutRefusesWrongBytes(t *testing.T) {
	s3r, _ := s3Replica(t)
	for _, rep := range []replica{dirReplica(t), s3r} {
		t.Run(rep.name, func(t *testing.T) {
			ctx := context.Background()
			old, data := photo(4, 3000), photo(5, 3000)
			if err := rep.store.Put(ctx, "cam/d.jpg", bytes.NewReader(old), 3000, sum(old)); err != nil {
				t.Fatal(err)
			}
			err := rep.store.Put(ctx, "cam/d.jpg", bytes.NewReader(data), 3000, sum(old))
			if err == nil {
				t.Fatal("Put of bytes that do not match their sum succeeded")
			}
			if b, _ := os.ReadFile(rep.file("cam/d.jpg")); sum(b) != sum(old) {
				t.Errorf("after a refused Put the key holds %d bytes with sha256 %s", len(b), sum(b))
			}
		})
	}
}

// TestScrubStoreDown: with the replica down, a scrub repairs nothing and
// calls nothing unrepairable: it ends early, saying why.
func TestScrubStoreDown(t *testing.T) {
	rep, srv := s3Replica(t)
	a, root := newArchive(t, rep.store)
	data := photo(10, 5000)
	receive(t, a, "cam/a.jpg", data)
	srv.Stop()
	r, err := a.Scrub(context.Background(), 0)
	if err == nil || !errors.Is(err, archive.ErrUnavailable) {
		t.Errorf("scrub with the replica down: %v", err)
	}
	if r == nil || r.Unrepairable+r.RepairedLocal+r.RepairedReplica != 0 {
		t.Errorf("report: %v", r)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "cam", "a.jpg")); !bytes.Equal(b, data) {
		t.Error("the local copy changed")
	}
	if st := a.Status(); st.LastScrub != r {
		t.Errorf("Status().LastScrub = %v, want the failed scrub's report", st.LastScrub)
	}
}

// FuzzCheckKey: a key CheckKey accepts names a file below any root, never
// the root itself, never above it, never among the archive's own files.
func FuzzCheckKey(f *testing.F) {
	for _, k := range []string{"cam/a.jpg", "cam/../x", "../x/y", "cam/.sums/x", "a/b/c", "cam//x", "cam/x/", "/cam/x", "cam/\x00", "cam/.."} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if archive.CheckKey(key) != nil {
			return
		}
		root := "/srv/root"
		p := filepath.Join(root, filepath.FromSlash(key))
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") || filepath.ToSlash(rel) != key {
			t.Fatalf("CheckKey accepted %q, which names %s", key, p)
		}
		for _, e := range strings.Split(key, "/") {
			if strings.HasPrefix(e, ".") {
				t.Fatalf("CheckKey accepted %q, with a dot element", key)
			}
		}
	})
}

// TestScrubIgnoresRootFiles: a file of the operator's at the top of the
// photo tree, or in a directory no device can have, is not a photo:
// neither checked, nor copied, nor refused.
func TestScrubIgnoresRootFiles(t *testing.T) {
	rep := dirReplica(t)
	a, root := newArchive(t, rep.store)
	os.WriteFile(filepath.Join(root, "README"), []byte("photos of the fleet"), 0o644)
	os.Mkdir(filepath.Join(root, "lost+found"), 0o700) // the root is a file system's
	os.WriteFile(filepath.Join(root, "lost+found", "#12"), []byte("an inode fsck found"), 0o600)
	receive(t, a, "cam/a.jpg", photo(11, 100))
	r, err := a.Scrub(context.Background(), 0)
	if err != nil || r.Checked != 1 || r.Refused+r.Recorded+r.RepairedReplica != 0 {
		t.Errorf("scrub: %v, %v", r, err)
	}
	for _, f := range []string{"README", "lost+found/#12"} {
		if _, err := os.Stat(rep.file(f)); err == nil {
			t.Errorf("%s was copied", f)
		}
	}
}
