package gokrazyhttp

import (
	"net"
	"net/http"
	"net/netip"
)

// PrivateOnly serves h, service's handler, to clients on loopback,
// private (RFC 1918, IPv6 ULA) and link-local addresses only, and answers
// 403 to everyone else. A cellular link usually has a public or carrier
// address: like gokrazy's own web interface, the services' pages and
// handlers are for the site network and VPNs.
func PrivateOnly(service string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !privateClient(r.RemoteAddr) {
			http.Error(w, service+" answers private networks only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func privateClient(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast()
}
