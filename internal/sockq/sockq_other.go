//go:build !linux

// Package sockq reads how many bytes wait in a TCP connection's kernel
// queues; outside Linux they are unknown.
package sockq

import "net"

// Unacked is unknown outside Linux.
func Unacked(net.Conn) (int, bool) { return 0, false }

// Unread is unknown outside Linux.
func Unread(net.Conn) (int, bool) { return 0, false }
