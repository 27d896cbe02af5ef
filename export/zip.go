package export

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// zipBag writes the bag in dir as a zip file at dst, every file under one
// folder named name (as an unzipped package is found). It writes a
// temporary file beside dst and links it into place once complete (a
// link never replaces an existing file).
func zipBag(dir, name, dst string) error {
	files, err := walkFiles(dir)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".partial-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	zw := zip.NewWriter(tmp)
	for _, f := range files {
		if err := addToZip(zw, filepath.Join(dir, filepath.FromSlash(f)), name+"/"+f); err != nil {
			tmp.Close()
			return fmt.Errorf("zip %s: %w", f, err)
		}
	}
	err = zw.Close()
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("zip: %w", err)
	}
	if err := os.Link(tmp.Name(), dst); err != nil {
		return fmt.Errorf("zip: %w", err)
	}
	return nil
}

func addToZip(zw *zip.Writer, src, name string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	h, err := zip.FileInfoHeader(fi)
	if err != nil {
		return err
	}
	h.Name = name
	h.Method = zip.Store // photos and videos do not compress; text is small
	switch path.Ext(name) {
	case ".txt", ".json", ".md", ".html", ".csv", ".jsonld", ".tlog-proof", ".pem", ".vkey", "":
		h.Method = zip.Deflate
	}
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}

// maxUnzipped bounds what verify-export unzips (64 GiB).
const maxUnzipped = 64 << 30

// unzipPackage extracts a zipped package into dir and returns the
// package's folder: the zip's one top folder, which every entry must be
// in. Entries that would land outside it, links and anything over
// maxUnzipped are refused.
func unzipPackage(src, dir string) (string, error) {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return "", fmt.Errorf("%s: %w", src, err)
	}
	defer zr.Close()
	top := ""
	var total int64
	for _, f := range zr.File {
		name := f.Name
		clean := path.Clean(name)
		if name == "" || strings.HasPrefix(name, "/") || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(name, "\\") {
			return "", fmt.Errorf("%s: entry %q would land outside the package", src, name)
		}
		first, _, inside := strings.Cut(clean, "/")
		if !inside && !f.FileInfo().IsDir() {
			return "", fmt.Errorf("%s: entry %q is not inside the package's folder", src, name)
		}
		if top == "" {
			top = first
		} else if first != top {
			return "", fmt.Errorf("%s: entries under %q and %q: a package is one folder", src, top, first)
		}
		if f.FileInfo().IsDir() {
			continue
		}
		if !f.Mode().IsRegular() {
			return "", fmt.Errorf("%s: entry %q is not a regular file", src, name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(clean))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		rc, err := f.Open()
		if err != nil {
			return "", fmt.Errorf("%s: %s: %w", src, name, err)
		}
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			rc.Close()
			return "", err
		}
		n, err := io.Copy(out, io.LimitReader(rc, maxUnzipped-total+1))
		rc.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		total += n
		if err == nil && total > maxUnzipped {
			err = errors.New("more than 64 GiB unzipped")
		}
		if err != nil {
			return "", fmt.Errorf("%s: %s: %w", src, name, err)
		}
	}
	if top == "" {
		return "", fmt.Errorf("%s: %w (an empty zip)", src, ErrNotPackage)
	}
	return filepath.Join(dir, top), nil
}
