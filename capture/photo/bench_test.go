package photo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/capture/photo/testfiles"
)

// benchFiles is the real fixture set: every camera file, PNG, HEIC, WebP
// and TIFF the tests use, whole.
func benchFiles(b *testing.B) []string {
	var files []string
	for _, g := range testfiles.CameraSets {
		files = append(files, testfiles.Glob(b, g.Module, g.Pattern)...)
	}
	return append(files, localFiles()...)
}

// BenchmarkExtract measures extraction throughput over the fixture set
// read from files (warm page cache), one file after another and on all
// cores: compare files/s with `exiftool -json -n -r` over the same files.
func BenchmarkExtract(b *testing.B) {
	paths := benchFiles(b)
	type file struct {
		f    *os.File
		size int64
	}
	var files []file
	var total int64
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, file{f, fi.Size()})
		total += fi.Size()
	}
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.SetBytes(total)
		for i := 0; i < b.N; i++ {
			for _, f := range files {
				if _, err := Extract(ctx, f.f, f.size); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(len(files)*b.N)/b.Elapsed().Seconds(), "files/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetBytes(total / int64(len(files)))
		i := 0
		b.RunParallel(func(pb *testing.PB) {
			for n := 0; pb.Next(); n++ {
				f := files[(n+i)%len(files)]
				if _, err := Extract(ctx, f.f, f.size); err != nil {
					b.Error(err)
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
	})
}

// localFiles lists the images in testdata.
func localFiles() []string {
	var out []string
	all, _ := filepath.Glob("testdata/*.*")
	for _, p := range all {
		switch strings.ToLower(filepath.Ext(p)) {
		case ".jpg", ".png", ".tif", ".heic", ".webp":
			out = append(out, p)
		}
	}
	return out
}
