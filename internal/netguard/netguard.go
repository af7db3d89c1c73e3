// Package netguard keeps crier's outgoing requests (sources and their
// redirects and page links, webhooks, WebSub callbacks) away from addresses
// they must never reach: loopback, private networks, link-local (cloud
// metadata), and other special ranges.
// The check runs at dial time, after DNS, on every connection, so neither a
// DNS answer that changes nor a redirect can get around it.
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrForbidden is returned when a target resolves to a special address.
var ErrForbidden = errors.New("target address is not public")

var special = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
		"::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
		"2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Public reports whether ip is an ordinary public unicast address.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() {
		return false
	}
	for _, p := range special {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Dialer returns a dialer that refuses non-public addresses unless
// allowPrivate is set. setting names the config key that allows them, for
// the error; the error does not say what the address was, so that a
// caller who chose the name learns nothing of the network behind crier.
func Dialer(timeout time.Duration, allowPrivate bool, setting string) *net.Dialer {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if allowPrivate {
		return d
	}
	d.Control = func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !Public(ap.Addr()) {
			return fmt.Errorf("%w: loopback, private and other special addresses are refused unless %s = true", ErrForbidden, setting)
		}
		return nil
	}
	return d
}

// LiteralHost reports whether host, as written in a URL, names a
// non-public address without DNS: localhost and its subdomains, and an IP
// address in any spelling the C resolver accepts (127.1, 2130706433,
// 0x7f.0.0.1, [::ffff:127.0.0.1]). crier check uses it; the dial-time
// check covers names that resolve to such addresses.
func LiteralHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || h == "" {
		return h != ""
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return !Public(ip)
	}
	if ip, ok := inetAton(h); ok {
		return !Public(ip)
	}
	return false
}

// inetAton parses the IPv4 forms of inet_aton(3): one to four parts, each
// decimal, octal (leading 0) or hexadecimal (0x), the last filling the
// remaining bytes.
func inetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 0, 32)
		if err != nil || p == "" {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		n |= v << (24 - 8*i)
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}
