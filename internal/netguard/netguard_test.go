package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2a00:1450:4007::200e": true, "127.0.0.1": false, "10.1.2.3": false, "172.20.0.1": false,
		"192.168.1.1": false, "169.254.169.254": false, "100.100.1.1": false, "0.0.0.0": false, "::1": false,
		"::ffff:127.0.0.1": false, "fd00::1": false, "fe80::1": false, "224.0.0.1": false, "64:ff9b::a00:1": false,
	} {
		if got := Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestDialerRefusesLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Dialer(time.Second, false, "x.allow").DialContext(context.Background(), "tcp", ln.Addr().String())
	if !errors.Is(err, ErrForbidden) {
		t.Errorf("dial loopback: got %v, want ErrForbidden", err)
	}
	// "localhost" resolves first, then is refused all the same.
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if _, err = Dialer(time.Second, false, "x.allow").DialContext(context.Background(), "tcp", "localhost:"+port); !errors.Is(err, ErrForbidden) {
		t.Errorf("dial localhost: got %v, want ErrForbidden", err)
	}
	c, err := Dialer(time.Second, true, "x.allow").DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("allowed private dial: %v", err)
	}
	c.Close()
}

func TestLiteralHost(t *testing.T) {
	for _, tt := range []struct {
		host string
		want bool
	}{
		{"localhost", true}, {"LOCALHOST.", true}, {"a.localhost", true},
		{"127.0.0.1", true}, {"127.1", true}, {"2130706433", true}, {"0x7f.0.0.1", true}, {"0177.0.0.1", true},
		{"[::1]", true}, {"[::ffff:127.0.0.1]", true}, {"10.1.2.3", true}, {"169.254.169.254", true}, {"[fe80::1]", true},
		{"example.org", false}, {"93.184.215.14", false}, {"[2606:4700::1]", false}, {"1.2.3.4.5", false},
	} {
		if got := LiteralHost(tt.host); got != tt.want {
			t.Errorf("LiteralHost(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}
