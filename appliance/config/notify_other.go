//go:build !linux

package config

import "errors"

// fileEvents is not available here: the Watcher polls.
type fileEvents struct{ C <-chan struct{} }

func watchFile(dir, name string) (*fileEvents, error) {
	return nil, errors.ErrUnsupported
}

func (e *fileEvents) Close() error { return nil }
