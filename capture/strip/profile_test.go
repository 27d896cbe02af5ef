package strip

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/capture"
)

func TestNewProfile(t *testing.T) {
	tests := []struct {
		name     string
		pname    string
		keep     []string
		want     []Group
		wantErr  string // a part of the error, "" for none
		wantAlso string // another part of the error
	}{
		{name: "empty name", pname: "", keep: []string{"gps"}, wantErr: "empty name"},
		{name: "unknown group names the known ones", pname: "p", keep: []string{"gps", "serials"},
			wantErr: `unknown group "serials"`, wantAlso: "known: " + groupList()},
		{name: "group names are exact", pname: "p", keep: []string{"GPS"}, wantErr: `unknown group "GPS"`},
		{name: "nothing kept", pname: "bare", keep: nil, want: []Group{}},
		{name: "sorted, trimmed, without repeats", pname: "p", keep: []string{" orientation", "gps ", "camera", "gps", "orientation"},
			want: []Group{Camera, GPS, Orientation}},
		{name: "every group", pname: "all", keep: []string{"orientation", "icc", "gps", "georeference", "capture-time", "camera"},
			want: Groups},
		{name: "the default profile's groups", pname: "default", keep: []string{"orientation", "icc", "georeference"},
			want: Default.Keep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewProfile(tt.pname, tt.keep)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("profile %v, want an error", p)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.wantAlso) {
					t.Errorf("error %q, want it to say %q and %q", err, tt.wantErr, tt.wantAlso)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != tt.pname || p.Keep == nil || !slices.Equal(p.Keep, tt.want) {
				t.Errorf("profile %q keeps %q, want %q keeping %q", p.Name, p.Keep, tt.pname, tt.want)
			}
		})
	}
}

// memSource is a capture.Source over bytes.
type memSource struct {
	*bytes.Reader
	mediaType string
}

func (s memSource) Name() string      { return "" }
func (s memSource) MediaType() string { return s.mediaType }

func TestReader(t *testing.T) {
	src := func(b []byte, mediaType string) capture.Source {
		return memSource{bytes.NewReader(b), mediaType}
	}
	r := NewReader(Default)
	t.Run("unsupported media type", func(t *testing.T) {
		for _, mt := range r.MediaTypes() {
			if _, ok := FormatOf(mt); !ok {
				t.Errorf("registers %s, which it cannot strip", mt)
			}
		}
		res, err := r.Read(context.Background(), src([]byte("GIF89a"), "image/gif"))
		if !errors.Is(err, capture.ErrUnsupported) || res != nil {
			t.Errorf("result %v, error %v; want capture.ErrUnsupported", res, err)
		}
	})
	read := func(t *testing.T, b []byte, mediaType string) capture.Derivative {
		t.Helper()
		res, err := r.Read(context.Background(), src(b, mediaType))
		if err != nil || res == nil || len(res.Derivatives) != 1 {
			t.Fatalf("result %v, error %v", res, err)
		}
		return res.Derivatives[0]
	}
	t.Run("no params after a failed write", func(t *testing.T) {
		d := read(t, []byte("not a PNG at all"), "image/png")
		if err := d.Write(context.Background(), io.Discard); err == nil {
			t.Fatal("no error")
		}
		if p := d.Params(); p != nil {
			t.Errorf("params %q after a failed write", p)
		}
	})
	t.Run("params after a write", func(t *testing.T) {
		in := pngWith(pngBase(t), [][]byte{pngChunk("tEXt", []byte("Author\x00someone"))}, nil, nil)
		d := read(t, in, "image/png")
		if d.Params() != nil {
			t.Error("params before the write")
		}
		if d.Name != "working-copy.png" || d.Kind != Kind || d.MediaType != "image/png" || d.Transform.Profile != Default.String() {
			t.Errorf("derivative %q %q %q %q", d.Name, d.Kind, d.MediaType, d.Transform.Profile)
		}
		if err := d.Write(context.Background(), io.Discard); err != nil {
			t.Fatal(err)
		}
		if p := d.Params(); p["removed"] != "tEXt" {
			t.Errorf("params %q, want removed tEXt", p)
		}
	})
}
