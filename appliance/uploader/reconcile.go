package uploader

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/appliance/config"
	"github.com/lapsebox/lapsebox/appliance/statusfile"
)

// Reconcile compares what t holds with the photos it should have and
// queues again those it lost (a server restored from an old backup, a
// bucket emptied by hand). Photos still in the outbox are left alone; a
// live-cam target, which keeps one picture, and a target sent nothing are
// not reconciled.
func (u *Uploader) Reconcile(ctx context.Context, t *Target) (statusfile.Reconcile, error) {
	rep := statusfile.Reconcile{Target: t.Config.Name, Time: time.Now()}
	if t.Config.Send == config.SendLatest || t.Config.Send == config.SendNothing {
		return rep, nil
	}
	held, err := t.Transport.List(ctx, "")
	if err != nil {
		return rep, fmt.Errorf("reconciling %s: listing: %w", t.Config.Name, err)
	}
	have := map[string]bool{}
	for _, n := range held {
		have[strings.TrimPrefix(n, "/")] = true
	}
	entries, err := u.Store.Pending(t.Config.Name)
	if err != nil {
		return rep, err
	}
	queued := map[string]bool{}
	for _, e := range entries {
		queued[e.Photo] = true
	}
	photos, err := u.Store.Photos()
	if err != nil {
		return rep, err
	}
	for _, p := range photos {
		raw := !strings.EqualFold(path.Ext(p), ".jpg")
		if !t.Config.Wants(raw) {
			continue
		}
		rep.Stored++
		name := strings.TrimPrefix(p, "photos/")
		switch {
		case queued[p]:
			rep.Pending++
		case have[name] || (t.Processor != nil && hasDerived(have, name)):
			rep.Present++
		default:
			if ok, err := u.Store.Requeue(p, t.Config.Name); err != nil {
				return rep, err
			} else if ok {
				rep.Requeued++
			}
		}
	}
	if rep.Requeued > 0 && t.arrivals != nil {
		// A requeued entry is written in place, which the kernel's news
		// of arrivals does not report: idle workers would wait a poll.
		t.arrivals.Notify()
	}
	return rep, nil
}

// hasDerived reports whether the target holds an output derived from name
// ("2026/11/26/x.jpg" sent as "2026/11/26/x-large.jpg").
func hasDerived(have map[string]bool, name string) bool {
	base := strings.TrimSuffix(name, path.Ext(name)) + "-"
	for h := range have {
		if strings.HasPrefix(h, base) {
			return true
		}
	}
	return false
}
