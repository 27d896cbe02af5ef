package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
)

func TestPublic(t *testing.T) {
	for _, a := range []string{"10.0.0.1", "169.254.169.254", "100.64.1.1", "fd00::1", "::1", "0.0.0.0", "192.168.1.1",
		"127.0.0.1", "::ffff:127.0.0.1", "64:ff9b::a00:1", "2002:a00:1::", "255.255.255.255", "fe80::1",
		"::7f00:1", "::a9fe:a9fe", "fec0::1"} {
		if Public(netip.MustParseAddr(a)) {
			t.Errorf("%s counted as public", a)
		}
	}
	for _, a := range []string{"93.184.215.14", "2606:4700::1111", "8.8.8.8"} {
		if !Public(netip.MustParseAddr(a)) {
			t.Errorf("%s counted as not public", a)
		}
	}
}

// TestDial: loopback is refused before any connection, unless allowed.
func TestDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var be *BlockedError
	if _, err := Dial(context.Background(), nil, ln.Addr().String(), false); !errors.As(err, &be) {
		t.Fatalf("loopback: %v", err)
	}
	if _, err := Dial(context.Background(), nil, "localhost:1", false); !errors.As(err, &be) {
		t.Fatalf("localhost: %v", err)
	}
	c, err := Dial(context.Background(), nil, ln.Addr().String(), true)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
