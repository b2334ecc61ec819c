package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Archive is the photo tree ingest writes, its replica and the record of
// the photos' sums. Its methods are safe for concurrent use.
type Archive struct {
	// Local is ingest's photo tree, <root>/<device>/<name>.
	Local *Dir
	// Replica is the second copy; nil keeps photos once.
	Replica Store
	// Sums is ingest's record of the photos' SHA-256.
	Sums *Sums

	log      *slog.Logger
	failures atomic.Int64 // Commits that failed

	mu        sync.Mutex
	last      *Report
	scrubbing bool
}

// New opens the archive of the photo tree at root (the tree ingest
// writes) with replica as its second copy (nil: none).
func New(root string, replica Store, log *slog.Logger) (*Archive, error) {
	if log == nil {
		log = slog.Default()
	}
	local, err := OpenDir(root)
	if err != nil {
		return nil, err
	}
	sums, err := OpenSums(root)
	if err != nil {
		return nil, err
	}
	return &Archive{Local: local, Replica: replica, Sums: sums, log: log}, nil
}

// Commit records sum as key's SHA-256 and makes sure the replica holds
// the local copy's bytes, and returns once both are durable: only then
// may the device be told its photo is safe. The caller has checked that
// the local copy hashes to sum. A replica that already holds the photo is
// not written again, so a device's retry after a failed Commit costs one
// copy at most.
func (a *Archive) Commit(ctx context.Context, key, sum string) error {
	if err := a.commit(ctx, key, sum); err != nil {
		a.failures.Add(1)
		return err
	}
	return nil
}

func (a *Archive) commit(ctx context.Context, key, sum string) error {
	if err := a.Record(key, sum); err != nil {
		return err
	}
	if a.Replica == nil {
		return nil
	}
	local, err := a.Local.Stat(ctx, key)
	if err != nil {
		return err
	}
	switch ok, err := holds(ctx, a.Replica, key, local.Size, sum, nil); {
	case err != nil:
		return err
	case ok:
		return nil
	}
	return copyKey(ctx, a.Local, a.Replica, key, sum, nil)
}

// Record records sum as key's SHA-256: the first half of Commit, which
// ingest does before it lets go of the upload the sum was verified on.
// The caller has checked that the local copy hashes to sum, so a record
// that says otherwise is stale (an operator removed a photo but not its
// record, and the name was used again) and is replaced, with a warning.
func (a *Archive) Record(key, sum string) error {
	rec, err := a.Sums.Get(key)
	if err != nil || rec == sum {
		return err
	}
	if rec != "" {
		a.log.Warn("archive: replacing a stale record", "key", key, "recorded", rec, "sha256", sum)
	}
	return a.Sums.Put(key, sum)
}

// Restore rewrites key's local copy from the replica, if the replica
// holds bytes hashing to key's record, sum: a photo the device sends
// again finds the copy it was confirmed on, not a damaged one. It returns
// ErrNotExist if there is no such record or no good copy to restore from.
func (a *Archive) Restore(ctx context.Context, key, sum string) error {
	if rec, err := a.Sums.Get(key); err != nil {
		return err
	} else if rec != sum || a.Replica == nil {
		return fmt.Errorf("archive: restoring %s: %w", key, ErrNotExist)
	}
	obj, err := a.Replica.Stat(ctx, key)
	if err != nil {
		return err
	}
	if obj.SHA256 != "" && obj.SHA256 != sum {
		return fmt.Errorf("archive: restoring %s: the replica's copy is another photo: %w", key, ErrNotExist)
	}
	// The local store refuses bytes that do not hash to sum.
	if err := copyKey(ctx, a.Replica, a.Local, key, sum, nil); err != nil {
		return err
	}
	a.log.Warn("archive: restored a damaged local copy from the replica", "key", key)
	return nil
}

// holds reports whether st has key with size bytes hashing to sum: by
// the sum the store recorded if it records one, by reading it otherwise.
func holds(ctx context.Context, st Store, key string, size int64, sum string, lim *limiter) (bool, error) {
	obj, err := st.Stat(ctx, key)
	if errors.Is(err, ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if obj.Size != size {
		return false, nil
	}
	if obj.SHA256 != "" {
		return obj.SHA256 == sum, nil
	}
	got, _, err := hashKey(ctx, st, key, size, lim)
	return got == sum, err
}

// copyKey puts key's bytes from src into dst; dst refuses them unless
// they hash to sum.
func copyKey(ctx context.Context, src, dst Store, key, sum string, lim *limiter) error {
	obj, err := src.Stat(ctx, key)
	if err != nil {
		return err
	}
	r, err := src.Open(ctx, key)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := dst.Put(ctx, key, lim.reader(ctx, r), obj.Size, sum); err != nil {
		return fmt.Errorf("copying %s from %s to %s: %w", key, src, dst, err)
	}
	return nil
}

// hashKey reads key from st and returns its SHA-256 and size, reading
// at most one byte more than size (what its Stat said): a copy longer
// than that is damaged whatever follows, and a store that sends without
// end is not read to its end.
func hashKey(ctx context.Context, st Store, key string, size int64, lim *limiter) (string, int64, error) {
	r, err := st.Open(ctx, key)
	if err != nil {
		return "", 0, err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(lim.reader(ctx, r), size+1))
	if err != nil {
		return "", n, fmt.Errorf("archive: reading %s from %s: %w", key, st, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
