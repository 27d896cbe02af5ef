package photo

import (
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/capture/bmff/bmfftest"
)

// TestHEIFSharedHostile: the metadata reader reads HEIF items through the
// stripper's parse, so on every lie that parse refuses it reports the
// parse's own error and reads no item (the stripper refuses the same
// files: capture/strip TestStripHEIFSharedHostile).
func TestHEIFSharedHostile(t *testing.T) {
	m, err := run(t, "good", bmfftest.HEIF(bmfftest.Spec{}), 2<<20)
	if err != nil || m.Summary.Make != "Acme" {
		t.Fatalf("good file: make %q, %v", m.Summary.Make, err)
	}
	m, err = run(t, "iinf of 5 MiB", bmfftest.HEIF(bmfftest.Spec{IinfPad: 5 << 20}), 16<<20)
	if err != nil || m.Summary.Make != "Acme" {
		t.Fatalf("iinf of 5 MiB (which the stripper reads): make %q, %v", m.Summary.Make, err)
	}
	check := func(c bmfftest.Case, where string) {
		m, err := run(t, c.Name, c.Data, 20<<20)
		if err != nil {
			return // nothing read (a file without ftyp first is not HEIF)
		}
		if m.Summary.Make != "" {
			t.Errorf("%s: an item was read from a file the stripper refuses", c.Name)
		}
		for _, p := range m.Problems {
			if p.Where == where && strings.Contains(p.Problem, c.Want) {
				return
			}
		}
		t.Errorf("%s: problems %+v, want %s %q", c.Name, m.Problems, where, c.Want)
	}
	for _, c := range bmfftest.Hostile(true) {
		check(c, "heif meta")
	}
	for _, c := range bmfftest.Unlocatable() {
		check(c, "heif item")
	}
}
