package local

import "testing"

// GroupCommit trusts syncfs only on local disk file systems: /proc is none.
func TestGroupableOnlyOnDiskFileSystems(t *testing.T) {
	if groupable("/proc") {
		t.Error("procfs taken for a file system whose syncfs reaches a disk")
	}
	if groupable("/does/not/exist") {
		t.Error("a missing folder taken as groupable")
	}
	s, err := Create(t.TempDir()+"/store", GroupCommit())
	if err != nil {
		t.Fatal(err)
	}
	if !s.Grouped() && groupable(s.Dir()) {
		t.Error("GroupCommit ignored on a groupable file system")
	}
}
