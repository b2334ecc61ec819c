package store

import (
	"context"
	"time"
)

// WaitPersistent waits until dir lies on a mounted, writable, persistent
// file system (RequirePersistent), checking every 30 s and passing each
// refusal to report. It returns nil once it does, ctx's error if ctx ends
// first.
func WaitPersistent(ctx context.Context, dir, mountinfoPath string, report func(error)) error {
	for {
		err := RequirePersistent(dir, mountinfoPath)
		if err == nil {
			return nil
		}
		report(err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(30 * time.Second):
		}
	}
}
