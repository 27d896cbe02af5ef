// Package netguard keeps the programs that fetch what users or providers
// name (web capture, satellite downloads) off addresses that are not the
// public internet: loopback, private and link-local networks, cloud
// metadata endpoints, and the prefixes that embed them. A URL list fed to
// a worker must not reach a metadata service.
package netguard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// BlockedError is a destination refused because it is not public.
type BlockedError struct {
	Host string
	IPs  []netip.Addr
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("%s resolves to %v, not a public address: refused (loopback, private and link-local addresses need the insecure option)", e.Host, e.IPs)
}

// Public says whether ip is a public unicast address: one that may be
// fetched from by default.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// nonPublic are ranges the standard library does not classify but that
// are not the public internet: this network, shared address space
// (carrier NAT), IETF protocol assignments, benchmarking, reserved,
// broadcast, and the IPv6 discard, documentation, NAT64, 6to4,
// IPv4-compatible and site-local prefixes.
var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	// NAT64 and 6to4 addresses embed an IPv4 one, possibly private.
	for _, s := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "240.0.0.0/4",
		"255.255.255.255/32", "100::/64", "2001:db8::/32", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16",
		"::/96", "fec0::/10"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Dial connects to hostport's first allowed address: its public ones, or
// any with allowPrivate. The address resolved and checked is the one
// dialled (a second lookup could answer otherwise). resolver may be nil.
func Dial(ctx context.Context, resolver *net.Resolver, hostport string, allowPrivate bool) (net.Conn, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		ips = []netip.Addr{ip}
	} else {
		if resolver == nil {
			resolver = net.DefaultResolver
		}
		addrs, err := resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		ips = addrs
	}
	var allowed []netip.Addr
	for _, ip := range ips {
		if allowPrivate || Public(ip) {
			allowed = append(allowed, ip)
		}
	}
	if len(allowed) == 0 {
		return nil, &BlockedError{Host: host, IPs: ips}
	}
	var d net.Dialer
	var last error
	for _, ip := range allowed {
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}
