package custody

import (
	"testing"
	"time"

	"github.com/openexhibit/exhibit/hashing"
)

// FuzzParseStatement: any bytes either parse into a coherent record or fail
// with an error; never a panic, and a parsed record re-encodes to a
// statement that parses again.
func FuzzParseStatement(f *testing.F) {
	good, err := goldenRecord().Statement().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"` + RecordPredicateType + `","predicate":{}}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseStatement(data)
		if err != nil {
			return
		}
		again, err := s.Marshal()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := ParseStatement(again); err != nil {
			t.Fatalf("a parsed statement does not parse after re-encoding: %v", err)
		}
	})
}

func FuzzParseArchive(f *testing.F) {
	f.Add([]byte(`{"mediaType":"` + ArchiveMediaType + `","createdAt":"2026-01-01T00:00:00Z","keys":[]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseArchive(data)
		if err == nil && a.MediaType != ArchiveMediaType {
			t.Fatal("accepted a descriptor with another media type")
		}
	})
}

// goldenRecord is a fixed record used by the golden file and fuzz seeds.
func goldenRecord() *Record {
	orig := hashing.Bytes([]byte("original bytes"))
	meta := hashing.Bytes([]byte("metadata document"))
	der := hashing.Bytes([]byte("derivative bytes"))
	at := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	mod := time.Date(2026, 11, 1, 18, 4, 5, 123456789, time.UTC)
	until := at.Add(365 * 24 * time.Hour)
	return &Record{
		Item: orig.SHA256.String(),
		Case: "case-2026-017",
		Original: Object{Key: ObjectKey(orig.SHA256), Digest: orig.Map(), Size: orig.Size, MediaType: "image/jpeg",
			VersionID: "6e0f1b3a-2f49-4e6b-a3a4-6a7c4f2b9d10"},
		Source: Source{Kind: "file", Path: "card01/DCIM/IMG_0001.JPG", Name: "IMG_0001.JPG", AcquiredAt: at,
			FileTimes: FileTimes{Modified: &mod}},
		Operator: Operator{Name: "Field Team 3", KeyFingerprint: "sha256:" + orig.SHA256.Hex()},
		Host:     Host{Name: "laptop-7", OS: "linux", Arch: "amd64"},
		Tool:     Tool{Name: "exhibit", Version: "0.1.0", GoVersion: "go1.26.8"},
		Metadata: &Metadata{Object: Object{Key: ObjectKey(meta.SHA256), Digest: meta.Map(), Size: meta.Size, MediaType: MetadataMediaType},
			Readers: []string{"basic/1"}},
		Derivatives: []Derivative{{Object: Object{Key: ObjectKey(der.SHA256), Digest: der.Map(), Size: der.Size, MediaType: "image/jpeg"},
			Name: "stripped.jpg", Kind: "stripped", Transform: Transform{Name: "exhibit-strip", Version: "1", Profile: "default"}}},
		Storage: Storage{Location: "s3://evidence/ngo", ObjectLock: true, Retention: &Retention{Mode: "COMPLIANCE", Until: until}},
	}
}
