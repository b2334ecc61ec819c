//go:build !linux

package uploadtest

import "net"

// readQueue is unknown outside Linux: the proxy judges by how long a read
// waited.
func readQueue(net.Conn) (int, bool) { return 0, false }
