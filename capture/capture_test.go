package capture

import "testing"

func TestSniff(t *testing.T) {
	tests := []struct {
		head, name, want string
	}{
		{"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "x.bin", "image/jpeg"},
		{"\x89PNG\r\n\x1a\n", "photo.jpg", "image/png"}, // bytes win over the name
		{"II*\x00\x08\x00\x00\x00", "scene.tif", "image/tiff"},
		{"II*\x00\x08\x00\x00\x00", "scene.dng", "image/tiff"},
		{"II+\x00\x08\x00\x00\x00", "big.bin", "image/tiff"},
		{"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "IMG.HEIC", "image/heic"},
		{"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "renamed.mp4", "image/heic"},
		{"\x00\x00\x00\x10ftypmp42\x00\x00\x00\x00", "clip.mp4", "video/mp4"},
		{"MM\x00*\x00\x00\x00\x08", "no-extension", "image/tiff"},
		{"", "empty", "text/plain; charset=utf-8"},
		{"\x00\x01\x02", "blob", "application/octet-stream"},
	}
	for _, tc := range tests {
		if got := Sniff([]byte(tc.head), tc.name); got != tc.want {
			t.Errorf("Sniff(%q, %q) = %q, want %q", tc.head, tc.name, got, tc.want)
		}
	}
}

func FuzzSniff(f *testing.F) {
	f.Add([]byte("\xff\xd8\xff"), "a.jpg")
	f.Add([]byte("\x00\x00\x00\x18ftypheic"), "a.heic")
	f.Fuzz(func(t *testing.T, head []byte, name string) {
		if Sniff(head, name) == "" {
			t.Fatal("empty media type")
		}
	})
}
