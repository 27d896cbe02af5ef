package bmff

import "testing"

func TestFields(t *testing.T) {
	c := &Fields{B: []byte{0x01, 0x02, 0x03, 'a', 'b', 0, 'c', 0xff}}
	if got := c.N(2); got != 0x0102 || c.Bad {
		t.Fatalf("N(2) = %#x, bad %v", got, c.Bad)
	}
	if got := c.Bytes(1); len(got) != 1 || got[0] != 3 {
		t.Fatalf("Bytes(1) = %v", got)
	}
	if got := c.Str(); got != "ab" || c.Left() != 2 {
		t.Fatalf("Str() = %q, left %d", got, c.Left())
	}
	if got := c.Str(); got != "c\xff" || c.Left() != 0 || c.Bad {
		t.Fatalf("unterminated Str() = %q, left %d, bad %v", got, c.Left(), c.Bad)
	}
	if got := c.N(1); got != 0 || !c.Bad {
		t.Fatalf("N past the end = %d, bad %v", got, c.Bad)
	}
	// Once bad, every read stays zero, even one that would fit.
	c.P = 0
	if c.N(1) != 0 || c.Bytes(1) != nil || c.Str() != "" {
		t.Fatal("a read after failing returned data")
	}
	for _, n := range []int{-1, 9} {
		d := &Fields{B: make([]byte, 8)}
		if d.Bytes(n) != nil || !d.Bad {
			t.Errorf("Bytes(%d) on 8 bytes returned data", n)
		}
	}
}
