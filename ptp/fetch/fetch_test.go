package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lapsebox/lapsebox/ptp"
)

// node is a file or folder on a fakeCamera.
type node struct {
	name     string
	data     []byte
	dir      bool
	children []*node
}

// fakeCamera behaves like QEMU's usb-mtp responder: one store, handles
// created when a folder is first listed (sparse, in reverse order), both
// AllObjects and RootObjects listing the root only, GetObjectInfo of an
// unlisted handle failing; a "replug" renumbers every handle. It can be
// unplugged after a number of bytes, like a camera pulled out mid-transfer.
type fakeCamera struct {
	mu                 sync.Mutex
	root               *node
	handles            map[uint32]*node
	parents            map[*node]uint32
	next               uint32
	gone               bool
	unplugAt           int64 // unplug once this many bytes were sent (0: never)
	sent               int64
	readOnly           bool
	noPartial          bool
	partialCalls       int
	wholeCalls         int
	deleted            []string
	maxChunk           int64
	store              uint32
	alsoEmptySlot      bool
	listErrs, infoErrs map[string]error
}

func file(name string, size int) *node {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*31 + len(name))
	}
	return &node{name: name, data: b}
}

func folder(name string, children ...*node) *node {
	return &node{name: name, dir: true, children: children}
}

func newFakeCamera(children ...*node) *fakeCamera {
	c := &fakeCamera{root: folder("", children...), store: 0x00010001}
	c.replug()
	return c
}

// replug starts a new session: every handle changes.
func (c *fakeCamera) replug() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gone, c.unplugAt = false, 0
	c.handles = map[uint32]*node{}
	c.parents = map[*node]uint32{}
	c.next += 100
}

func (c *fakeCamera) check(op ptp.OpCode) error {
	if c.gone {
		return &ptp.OpError{Op: ptp.Operation{Code: op}, Err: fmt.Errorf("usb: receive: %w", ptp.ErrNoDevice)}
	}
	return nil
}

func respErr(op ptp.OpCode, code ptp.ResponseCode) error {
	return &ptp.ResponseError{Op: ptp.Operation{Code: op}, Code: code}
}

func (c *fakeCamera) GetStorageIDs(ctx context.Context) ([]uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(ptp.OpGetStorageIDs); err != nil {
		return nil, err
	}
	if c.alsoEmptySlot {
		return []uint32{0x00020000, c.store}, nil
	}
	return []uint32{c.store}, nil
}

func (c *fakeCamera) GetObjectHandles(ctx context.Context, storage, format, parent uint32) ([]uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(ptp.OpGetObjectHandles); err != nil {
		return nil, err
	}
	if storage != c.store && storage != ptp.AllStorages {
		return nil, respErr(ptp.OpGetObjectHandles, ptp.RespInvalidStorageID)
	}
	dir := c.root
	if parent != 0 && parent != 0xFFFFFFFF {
		n, ok := c.handles[parent]
		if !ok {
			return nil, respErr(ptp.OpGetObjectHandles, ptp.RespInvalidObjectHandle)
		}
		if !n.dir {
			return nil, respErr(ptp.OpGetObjectHandles, ptp.RespInvalidParentObject)
		}
		dir = n
	}
	if err := c.listErrs[dir.name]; err != nil {
		return nil, err
	}
	var hs []uint32
	for i := len(dir.children) - 1; i >= 0; i-- {
		ch := dir.children[i]
		h, ok := c.handleOf(ch)
		if !ok {
			c.next += 2 // sparse, like QEMU's
			h = c.next
			c.handles[h] = ch
			c.parents[ch] = parent
		}
		hs = append(hs, h)
	}
	return hs, nil
}

func (c *fakeCamera) handleOf(n *node) (uint32, bool) {
	for h, m := range c.handles {
		if m == n {
			return h, true
		}
	}
	return 0, false
}

func (c *fakeCamera) GetObjectInfo(ctx context.Context, h uint32) (*ptp.ObjectInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(ptp.OpGetObjectInfo); err != nil {
		return nil, err
	}
	n, ok := c.handles[h]
	if !ok {
		return nil, respErr(ptp.OpGetObjectInfo, ptp.RespInvalidObjectHandle)
	}
	if err := c.infoErrs[n.name]; err != nil {
		return nil, err
	}
	oi := &ptp.ObjectInfo{StorageID: c.store, Format: 0x3000, Filename: n.name, CompressedSize: uint32(len(n.data)), ParentObject: c.parents[n]}
	if n.dir {
		oi.Format, oi.AssociationType, oi.CompressedSize = ptp.FormatAssociation, 1, 4096
	}
	return oi, nil
}

// send writes data to w, unplugging the camera on the way if asked.
func (c *fakeCamera) send(op ptp.OpCode, data []byte, w io.Writer) error {
	if c.unplugAt > 0 && c.sent+int64(len(data)) >= c.unplugAt {
		data = data[:c.unplugAt-c.sent]
		c.gone = true
	}
	c.sent += int64(len(data))
	if _, err := w.Write(data); err != nil {
		return &ptp.OpError{Op: ptp.Operation{Code: op}, Err: err}
	}
	return c.check(op)
}

func (c *fakeCamera) GetObject(ctx context.Context, h uint32, w io.Writer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(ptp.OpGetObject); err != nil {
		return err
	}
	n, ok := c.handles[h]
	if !ok {
		return respErr(ptp.OpGetObject, ptp.RespInvalidObjectHandle)
	}
	c.wholeCalls++
	return c.send(ptp.OpGetObject, n.data, w)
}

func (c *fakeCamera) GetPartialObject(ctx context.Context, h, offset, max uint32, w io.Writer) (uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(ptp.OpGetPartialObject); err != nil {
		return 0, err
	}
	if c.noPartial {
		return 0, respErr(ptp.OpGetPartialObject, ptp.RespOperationNotSupported)
	}
	n, ok := c.handles[h]
	if !ok {
		return 0, respErr(ptp.OpGetPartialObject, ptp.RespInvalidObjectHandle)
	}
	c.partialCalls++
	c.maxChunk = max64(c.maxChunk, int64(max))
	// Clamped to the file, like QEMU.
	start := min(int(offset), len(n.data))
	end := min(start+int(max), len(n.data))
	return uint32(end - start), c.send(ptp.OpGetPartialObject, n.data[start:end], w)
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func (c *fakeCamera) DeleteObject(ctx context.Context, h uint32, format ptp.FormatCode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(ptp.OpDeleteObject); err != nil {
		return err
	}
	if c.readOnly {
		return respErr(ptp.OpDeleteObject, ptp.RespStoreReadOnly)
	}
	n, ok := c.handles[h]
	if !ok {
		return respErr(ptp.OpDeleteObject, ptp.RespInvalidObjectHandle)
	}
	c.deleted = append(c.deleted, n.name)
	delete(c.handles, h)
	return nil
}

// files returns every file under dir, relative, with its content;
// partial downloads included.
func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testTree has what trips downloads up: an empty file, sizes that are
// exact multiples of 512, 51188 bytes (a data container of 51200),
// nested folders, and a file of several chunks.
func testTree() []*node {
	return []*node{
		file("empty.txt", 0),
		folder("DCIM",
			folder("100CANON",
				file("IMG_0001.JPG", 512),
				file("IMG_0002.JPG", 4096),
				file("IMG_0003.JPG", 51188),
				file("IMG_0004.CR2", 3<<20+17),
			),
			folder("101CANON", folder("deep", file("note.txt", 6))),
		),
		folder("EMPTY"),
	}
}

var testPaths = map[string]int{
	"empty.txt":                   0,
	"DCIM/100CANON/IMG_0001.JPG":  512,
	"DCIM/100CANON/IMG_0002.JPG":  4096,
	"DCIM/100CANON/IMG_0003.JPG":  51188,
	"DCIM/100CANON/IMG_0004.CR2":  3<<20 + 17,
	"DCIM/101CANON/deep/note.txt": 6,
}

// checkStored compares the sink with the camera's files.
func checkStored(t *testing.T, dir string, cam *fakeCamera) {
	t.Helper()
	got := files(t, dir)
	var want []string
	for p, size := range testPaths {
		want = append(want, p)
		b, ok := got["00010001/"+p]
		if !ok {
			t.Errorf("%s not stored", p)
			continue
		}
		if len(b) != size || !bytes.Equal(b, file(filepath.Base(p), size).data) {
			t.Errorf("%s: %d bytes stored, not the camera's %d", p, len(b), size)
		}
	}
	if len(got) != len(want) {
		var names []string
		for n := range got {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Errorf("stored %d files, want %d: %v", len(got), len(want), names)
	}
}

func TestFetch(t *testing.T) {
	cam := newFakeCamera(testTree()...)
	cam.alsoEmptySlot = true
	dir := t.TempDir()
	var calls []Progress
	res, err := Fetch(context.Background(), cam, Dir{Root: dir}, &Options{
		ChunkSize: 100_000, // not a multiple of 512
		Progress:  func(p Progress) { calls = append(calls, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Objects != len(testPaths) || res.Fetched != len(testPaths) || res.Bytes != 3<<20+17+512+4096+51188+6 {
		t.Errorf("result %+v", res)
	}
	if cam.maxChunk != 100_000 {
		t.Errorf("largest GetPartialObject %d bytes, want the chunk size", cam.maxChunk)
	}
	checkStored(t, dir, cam)
	complete := 0
	for _, p := range calls {
		if p.Done > p.Object.Size {
			t.Errorf("progress %d of %d bytes", p.Done, p.Object.Size)
		}
		if p.Complete {
			complete++
		}
	}
	if complete != len(testPaths) {
		t.Errorf("%d completions reported, want %d", complete, len(testPaths))
	}

	// Everything is there: a second run fetches nothing.
	cam.replug()
	res, err = Fetch(context.Background(), cam, Dir{Root: dir}, nil)
	if err != nil || res.Skipped != len(testPaths) || res.Fetched != 0 || res.Bytes != 0 {
		t.Errorf("second run: %+v, %v", res, err)
	}
}

// TestFetchResume unplugs the camera in the middle of the large file: the
// next run after the replug (new handles) continues from the bytes on disk.
func TestFetchResume(t *testing.T) {
	cam := newFakeCamera(testTree()...)
	dir := t.TempDir()
	cam.unplugAt = 1<<20 + 12345
	res, err := Fetch(context.Background(), cam, Dir{Root: dir}, &Options{ChunkSize: 1 << 19})
	if !errors.Is(err, ptp.ErrNoDevice) {
		t.Fatalf("Fetch while unplugged: %v, want ErrNoDevice", err)
	}
	first := res.Bytes
	if first != 1<<20+12345 {
		t.Errorf("first run stored %d bytes, the camera sent %d", first, 1<<20+12345)
	}
	part := files(t, dir)["00010001/DCIM/100CANON/.IMG_0004.CR2.part"]
	if len(part) == 0 {
		t.Fatalf("no partial file kept; files: %v", keys(files(t, dir)))
	}
	cam.replug()
	var resumed int64
	res, err = Fetch(context.Background(), cam, Dir{Root: dir}, &Options{
		ChunkSize: 1 << 19,
		Progress: func(p Progress) {
			if p.Complete && p.Resumed > 0 {
				resumed = p.Resumed
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resumed != int64(len(part)) {
		t.Errorf("resumed from %d, the partial file had %d bytes", resumed, len(part))
	}
	if total := first + res.Bytes; total != 3<<20+17+512+4096+51188+6 {
		t.Errorf("%d bytes downloaded in all, want every byte once", total)
	}
	checkStored(t, dir, cam)
}

func keys(m map[string][]byte) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

func TestFetchDelete(t *testing.T) {
	cam := newFakeCamera(testTree()...)
	dir := t.TempDir()
	res, err := Fetch(context.Background(), cam, Dir{Root: dir}, &Options{Delete: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != len(testPaths) || len(cam.deleted) != len(testPaths) {
		t.Errorf("deleted %d (%v), want %d", res.Deleted, cam.deleted, len(testPaths))
	}
	checkStored(t, dir, cam)

	// A read-only card: every file is stored, every delete reported.
	cam = newFakeCamera(testTree()...)
	cam.readOnly = true
	dir = t.TempDir()
	res, err = Fetch(context.Background(), cam, Dir{Root: dir}, &Options{Delete: true})
	if !ptp.IsResponse(err, ptp.RespStoreReadOnly) || res.Failed != len(testPaths) {
		t.Errorf("read-only store: %+v, %v", res, err)
	}
	checkStored(t, dir, cam)
}

func TestFetchWithoutPartialObject(t *testing.T) {
	cam := newFakeCamera(testTree()...)
	cam.noPartial = true
	dir := t.TempDir()
	if _, err := Fetch(context.Background(), cam, Dir{Root: dir}, nil); err != nil {
		t.Fatal(err)
	}
	if cam.wholeCalls != len(testPaths)-1 { // not for the empty file
		t.Errorf("%d GetObject calls, want %d", cam.wholeCalls, len(testPaths)-1)
	}
	checkStored(t, dir, cam)
}

// TestFetchErrors checks that a folder that cannot be listed or an object
// whose info fails is reported and does not stop the rest.
func TestFetchErrors(t *testing.T) {
	cam := newFakeCamera(testTree()...)
	cam.listErrs = map[string]error{"101CANON": respErr(ptp.OpGetObjectHandles, ptp.RespAccessDenied)}
	cam.infoErrs = map[string]error{"IMG_0001.JPG": respErr(ptp.OpGetObjectInfo, ptp.RespGeneralError)}
	dir := t.TempDir()
	res, err := Fetch(context.Background(), cam, Dir{Root: dir}, nil)
	if err == nil || !strings.Contains(err.Error(), "101CANON") || !strings.Contains(err.Error(), "GeneralError") {
		t.Errorf("error %v, want it to name the folder and the object", err)
	}
	if res.Fetched != len(testPaths)-2 {
		t.Errorf("fetched %d files, want all but two", res.Fetched)
	}
}

func TestDirCollisions(t *testing.T) {
	dir := t.TempDir()
	store := StoreDir(dir, 0x00010001)
	os.MkdirAll(filepath.Join(store, "DCIM"), 0o755)
	// Left by an earlier card, before it was formatted.
	os.WriteFile(filepath.Join(store, "DCIM", "IMG_0001.JPG"), []byte("an older photo"), 0o644)
	cam := newFakeCamera(folder("DCIM", file("IMG_0001.JPG", 1000), file("IMG_0002.JPG", 10)))
	if _, err := Fetch(context.Background(), cam, Dir{Root: dir}, nil); err != nil {
		t.Fatal(err)
	}
	got := files(t, dir)
	if string(got["00010001/DCIM/IMG_0001.JPG"]) != "an older photo" {
		t.Error("the older photo was overwritten")
	}
	if len(got["00010001/DCIM/IMG_0001~2.JPG"]) != 1000 {
		t.Errorf("the new photo is not IMG_0001~2.JPG: %v", keys(got))
	}
	cam.replug()
	res, err := Fetch(context.Background(), cam, Dir{Root: dir}, nil)
	if err != nil || res.Skipped != 2 {
		t.Errorf("second run: %+v, %v: want both found", res, err)
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"IMG_0001.JPG": "IMG_0001.JPG",
		"a/b":          "a_b",
		"..":           "object-00000007",
		"":             "object-00000007",
		".hidden":      "object-00000007hidden",
		"x\x00y":       "x_y",
	} {
		if got := cleanName(in, 7); got != want {
			t.Errorf("cleanName(%q) = %q, want %q", in, got, want)
		}
	}
}

// wrappedDir is a Dir whose parts wrap gives another behaviour.
type wrappedDir struct {
	Dir
	wrap func(Part) Part
}

func (d wrappedDir) Begin(obj Object) (Part, error) {
	p, err := d.Dir.Begin(obj)
	if p == nil || err != nil {
		return p, err
	}
	return d.wrap(p), nil
}

// countedPart counts its syncs.
type countedPart struct {
	Part
	syncs *int
}

func (p countedPart) Sync() error {
	*p.syncs++
	return p.Part.Sync()
}

// A partial file is synced every SyncEvery bytes, not after each chunk:
// a sync a chunk left the bus idle while the disk caught up.
func TestFetchSyncsEverySyncEvery(t *testing.T) {
	cam := newFakeCamera(testTree()...)
	dir := t.TempDir()
	syncs := 0
	sink := wrappedDir{Dir{Root: dir}, func(p Part) Part { return countedPart{p, &syncs} }}
	if _, err := Fetch(context.Background(), cam, sink, &Options{ChunkSize: 256 << 10, SyncEvery: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	// The 3 MiB + 17 bytes CR2 in 13 chunks: synced at 1, 2 and 3 MiB;
	// the rest is made durable by Commit.
	if syncs != 3 {
		t.Errorf("%d syncs of partial files, want 3", syncs)
	}
	checkStored(t, dir, cam)
}

// askCountingCamera counts the GetPartialObjects begun.
type askCountingCamera struct {
	*fakeCamera
	asks *atomic.Int64
}

func (c askCountingCamera) GetPartialObject(ctx context.Context, h, offset, max uint32, w io.Writer) (uint32, error) {
	c.asks.Add(1)
	return c.fakeCamera.GetPartialObject(ctx, h, offset, max, w)
}

// slowSyncPart syncs as a slow disk does: until the camera is asked for
// a piece after the last one written, or for a second. It counts the
// syncs that saw that ask.
type slowSyncPart struct {
	Part
	asks       *atomic.Int64
	written    *int64 // asks when the last write came
	overlapped *int
}

func (p slowSyncPart) Write(b []byte) (int, error) {
	*p.written = p.asks.Load()
	return p.Part.Write(b)
}

func (p slowSyncPart) Sync() error {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if p.asks.Load() > *p.written {
			*p.overlapped++
			break
		}
	}
	return p.Part.Sync()
}

// The camera sends the next piece while a partial file is synced: in
// line, each sync left the bus idle.
func TestFetchSyncsBehind(t *testing.T) {
	cam := askCountingCamera{newFakeCamera(testTree()...), new(atomic.Int64)}
	dir := t.TempDir()
	var written int64
	overlapped := 0
	sink := wrappedDir{Dir{Root: dir}, func(p Part) Part { return slowSyncPart{p, cam.asks, &written, &overlapped} }}
	if _, err := Fetch(context.Background(), cam, sink, &Options{ChunkSize: 256 << 10, SyncEvery: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	// The CR2 is synced at 1, 2 and 3 MiB, each time before its next
	// piece is asked for.
	if overlapped != 3 {
		t.Errorf("%d of 3 syncs ran while the camera sent the next piece", overlapped)
	}
	checkStored(t, dir, cam.fakeCamera)
}

// failingSyncPart fails its syncs while *fail is set, as a disk that went
// away.
type failingSyncPart struct {
	Part
	fail *bool
}

func (p failingSyncPart) Sync() error {
	if *p.fail {
		return syscall.EIO
	}
	return p.Part.Sync()
}

// A sync that fails in the background fails the object as a sink error;
// the file is not put in place, and the next run completes it.
func TestFetchSyncBehindFailure(t *testing.T) {
	cam := newFakeCamera(testTree()...)
	dir := t.TempDir()
	fail := true
	sink := wrappedDir{Dir{Root: dir}, func(p Part) Part { return failingSyncPart{p, &fail} }}
	_, err := Fetch(context.Background(), cam, sink, &Options{ChunkSize: 256 << 10, SyncEvery: 1 << 20})
	var se *SinkError
	if !errors.As(err, &se) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Fetch onto a disk whose sync fails: %v, want a sink error for EIO", err)
	}
	const cr2 = "00010001/DCIM/100CANON/IMG_0004.CR2"
	if _, ok := files(t, dir)[cr2]; ok {
		t.Error("the CR2 whose sync failed was put in place")
	}
	fail = false
	if _, err := Fetch(context.Background(), cam, sink, &Options{ChunkSize: 256 << 10, SyncEvery: 1 << 20}); err != nil {
		t.Fatalf("Fetch with the disk back: %v", err)
	}
	if _, ok := files(t, dir)[cr2]; !ok {
		t.Errorf("no %s after the second run", cr2)
	}
	checkStored(t, dir, cam)
}

// failingPart fails its writes once left bytes were written, as a disk
// fills up.
type failingPart struct {
	Part
	left *int64
}

func (p failingPart) Write(b []byte) (int, error) {
	if *p.left < int64(len(b)) {
		return 0, syscall.ENOSPC
	}
	*p.left -= int64(len(b))
	return p.Part.Write(b)
}

// Writes reach the disk in the background while the next chunk arrives;
// one that fails still fails the object as a sink error (a full disk), and
// the partial file keeps only what was written, for the next run.
func TestFetchWriteBehindFailure(t *testing.T) {
	cam := newFakeCamera(testTree()...)
	dir := t.TempDir()
	left := int64(1 << 20)
	sink := wrappedDir{Dir{Root: dir}, func(p Part) Part { return failingPart{p, &left} }}
	res, err := Fetch(context.Background(), cam, sink, &Options{ChunkSize: 256 << 10})
	var se *SinkError
	if !errors.As(err, &se) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Fetch onto a disk that fills: %v, want a sink error for ENOSPC", err)
	}
	for name, b := range files(t, dir) {
		if strings.HasSuffix(name, ".part") && len(b) > 1<<20 {
			t.Errorf("%s holds %d bytes; only 1 MiB was written", name, len(b))
		}
	}
	// Room again: the next run resumes and completes every file.
	left = 1 << 40
	if _, err := Fetch(context.Background(), cam, sink, &Options{ChunkSize: 256 << 10}); err != nil {
		t.Fatalf("Fetch with room: %v (first run: %+v)", err, res)
	}
	checkStored(t, dir, cam)
}
