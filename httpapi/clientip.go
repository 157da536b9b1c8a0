package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP returns the address of the client that sent r: the connection's
// peer, unless the peer is one of the trusted proxies (Options.TrustedProxies),
// in which case the forwarding headers name the client:
//
//   - X-Forwarded-For is walked from the right (each proxy appends the
//     address it received the request from), skipping the trusted
//     proxies; the first address that is not trusted is the client. A
//     client may write anything into the header, but only to the left of
//     what the trusted proxies append, so what it writes is never reached
//     while a trusted hop stands to its right. When every address is
//     trusted, the left-most is the client; an entry that does not parse
//     stops the walk at the last trusted hop.
//   - CF-Connecting-IP (Cloudflare's single client address) is believed
//     only when there is no X-Forwarded-For, since Cloudflare sends both.
//
// The invalid Addr is returned only when even the peer's address does not
// parse (a test's request without RemoteAddr, say). IPv4-mapped IPv6
// addresses are returned as IPv4, and zones are dropped.
func (s *server) clientIP(r *http.Request) netip.Addr {
	peer := parseIP(r.RemoteAddr)
	if !peer.IsValid() || !s.isTrusted(peer) {
		return peer
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		return s.walkForwarded(xff, peer)
	}
	if cf := parseIP(r.Header.Get("CF-Connecting-IP")); cf.IsValid() {
		return cf
	}
	return peer
}

// walkForwarded returns the client named by the X-Forwarded-For header
// lines xff of a request whose trusted peer is peer.
func (s *server) walkForwarded(xff []string, peer netip.Addr) netip.Addr {
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		hops := strings.Split(xff[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			hop := strings.TrimSpace(hops[j])
			if hop == "" {
				continue
			}
			a := parseIP(hop)
			if !a.IsValid() {
				return client // unparseable: the last trusted hop answers for it
			}
			client = a
			if !s.isTrusted(a) {
				return a
			}
		}
	}
	return client
}

// isTrusted reports whether a is one of the trusted proxies.
func (s *server) isTrusted(a netip.Addr) bool {
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseIP reads an address as RemoteAddr and the forwarding headers write
// it: "1.2.3.4", "1.2.3.4:5678", "2001:db8::1", "[2001:db8::1]:443", with
// an optional zone. It returns the invalid Addr when v is none of these.
func parseIP(v string) netip.Addr {
	v = strings.TrimSpace(v)
	a, err := netip.ParseAddr(v)
	if err != nil {
		host, _, serr := net.SplitHostPort(v)
		if serr != nil {
			host = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
		}
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.Addr{}
		}
	}
	return a.Unmap().WithZone("")
}
