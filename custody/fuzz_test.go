package custody

import (
	"encoding/json"
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
	for _, r := range []*Record{goldenRecordV1(), goldenRecordParts()} {
		data, err := r.Statement().Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
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

// goldenRecordV1 is a fixed version 1 record, as earlier releases wrote.
func goldenRecordV1() *Record {
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
		Source: &Source{Kind: "file", Path: "card01/DCIM/IMG_0001.JPG", Name: "IMG_0001.JPG", AcquiredAt: at,
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

// goldenRecord is a fixed version 2 record of a file, used by the golden
// files, the fuzz seeds and the tests that edit a valid record.
func goldenRecord() *Record {
	r := goldenRecordV1()
	at, mod := r.Source.AcquiredAt, *r.Source.FileTimes.Modified
	prov, err := json.Marshal(FileProvenance{Path: "card01/DCIM/IMG_0001.JPG", Name: "IMG_0001.JPG",
		FileTimes: FileTimes{Modified: &mod}, Device: &Device{ID: "8:17", Mount: "/media/card01", Type: "vfat", Source: "/dev/sdb1"}})
	if err != nil {
		panic(err)
	}
	r.Source = nil
	r.Acquisition = &Acquisition{
		ID: "urn:uuid:0b8e3c52-6f1d-4c8e-9a5b-2d7f4e1c3a90", Part: "original", Kind: KindFile,
		ProvenanceType: ProvenanceFileV1, Provenance: prov, By: "Field Team 3",
		Started: at, Ended: at.Add(1500 * time.Millisecond), Clock: ClockHost,
		Tools: []AcquisitionTool{{Name: "exhibit", Version: "0.1.0"}},
		Parts: []Part{{Name: "original", Item: r.Item, Digest: r.Original.Digest, Size: r.Original.Size, MediaType: r.Original.MediaType}},
	}
	return r
}

// goldenRecordParts is a fixed version 2 record of one part of a
// two-part acquisition of a kind that Exhibit does not know (a satellite
// scene: its item JSON and an asset), with a provenance of its own.
func goldenRecordParts() *Record {
	r := goldenRecord()
	item := hashing.Bytes([]byte(`{"type":"Feature"}`))
	a := r.Acquisition
	a.ID, a.Part, a.Kind = "urn:uuid:5f2c7d1e-8a3b-4c6d-9e0f-1a2b3c4d5e6f", "asset/visual", "stac"
	a.ProvenanceType = "https://example.org/provenance/stac-item/v1"
	a.Provenance = json.RawMessage(`{"api": "https://earth-search.example/v1", "collection": "sentinel-2-l2a", "item": "S2B_36UUA_20260312_0_L2A"}`)
	a.Tools = append(a.Tools, AcquisitionTool{Name: "gdal", Version: "3.10.3",
		Digest: hashing.Bytes([]byte("gdal binary")).Map()})
	r.Original.MediaType = "image/tiff; application=geotiff; profile=cloud-optimized"
	a.Parts = []Part{
		{Name: "item.json", Item: item.SHA256.String(), Digest: item.Map(), Size: item.Size, MediaType: "application/geo+json"},
		{Name: "asset/visual", Item: r.Item, Digest: r.Original.Digest, Size: r.Original.Size, MediaType: r.Original.MediaType},
	}
	r.Derivatives = []Derivative{}
	return r
}
