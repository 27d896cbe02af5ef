package export

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/openexhibit/exhibit/hashing"
)

// A BagIt 1.0 bag (RFC 8493), written and read here: no Go BagIt library
// resolves, and the format is small. What Exhibit writes is a strict
// subset that bagit-python, `sha256sum -c` and RFC 8493 read alike: file
// names in plain ASCII without "%", CR or LF (so no name needs encoding),
// manifest lines in the two-space form of sha256sum, UTF-8 throughout.

const (
	bagitTxt   = "bagit.txt"
	bagInfoTxt = "bag-info.txt"
	bagitDecl  = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
)

// algorithms are the manifests' algorithms, in the order they are written.
var algorithms = []string{"sha256", "sha512"}

// fileSum is a file of the bag (relative slash path) with its digests.
type fileSum struct {
	path string
	sum  hashing.Set
}

// bagWriter writes a bag into a folder.
type bagWriter struct {
	dir     string
	mu      sync.Mutex
	payload []fileSum // under data/
	tags    []fileSum // other files, listed in the tag manifests
}

// safeName reports whether a bag path is plain ASCII that needs no
// encoding in a manifest and no quoting in a shell: letters, digits and
// "._-/", no empty or dot segment.
func safeName(p string) bool {
	if p == "" || len(p) > 240 {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	for _, r := range p {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-', r == '/':
		default:
			return false
		}
	}
	return true
}

// create opens a new file of the bag for writing; close returns its
// digests. Payload paths start with "data/".
func (b *bagWriter) create(rel string) (*bagFile, error) {
	if !safeName(rel) {
		return nil, fmt.Errorf("bag: file name %q is not plain ASCII", rel)
	}
	path := filepath.Join(b.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &bagFile{b: b, rel: rel, f: f, h: hashing.New()}, nil
}

// bagFile is a file being written: its bytes are hashed as they go,
// unless the caller knows their digests (closeKnown).
type bagFile struct {
	b   *bagWriter
	rel string
	f   *os.File
	h   *hashing.Hasher
	// known: the caller hashes what it writes (closeKnown).
	known bool
}

func (f *bagFile) Write(p []byte) (int, error) {
	if !f.known {
		f.h.Write(p)
	}
	return f.f.Write(p)
}

// Close finishes the file and records it in the bag with the digests of
// what was written.
func (f *bagFile) Close() error { return f.finish(f.h.Sum()) }

// closeKnown finishes a file whose bytes the caller hashed itself (sum),
// as verify.Fetch does while it checks them: written after known().
func (f *bagFile) closeKnown(sum hashing.Set) error { return f.finish(sum) }

func (f *bagFile) finish(sum hashing.Set) error {
	if err := f.f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", f.rel, err)
	}
	f.b.record(f.rel, sum)
	return nil
}

// record lists a complete file of the bag with its digests.
func (b *bagWriter) record(rel string, sum hashing.Set) {
	fs := fileSum{path: rel, sum: sum}
	b.mu.Lock()
	defer b.mu.Unlock()
	if strings.HasPrefix(rel, "data/") {
		b.payload = append(b.payload, fs)
	} else {
		b.tags = append(b.tags, fs)
	}
}

// put writes a whole file.
func (b *bagWriter) put(rel string, data []byte) error {
	f, err := b.create(rel)
	if err != nil {
		return err
	}
	f.Write(data)
	return f.Close()
}

// oxum is the Payload-Oxum: octets and file count of the payload.
func oxum(files []fileSum) string {
	var n int64
	for _, f := range files {
		n += f.sum.Size
	}
	return fmt.Sprintf("%d.%d", n, len(files))
}

// manifest is a manifest's text: "<hex>  <path>" per file, sorted by path.
func manifest(files []fileSum, alg string) []byte {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b fileSum) int { return strings.Compare(a.path, b.path) })
	var buf bytes.Buffer
	for _, f := range files {
		d := f.sum.SHA256
		if alg == "sha512" {
			d = f.sum.SHA512
		}
		fmt.Fprintf(&buf, "%s  %s\n", d.Hex(), f.path)
	}
	return buf.Bytes()
}

// infoField is one line of bag-info.txt.
type infoField struct{ name, value string }

// writeDeclaration writes bagit.txt, bag-info.txt (info, then
// Payload-Oxum) and the payload manifests: what the tag manifests cover
// besides the other tag files. It is called once the payload is complete.
func (b *bagWriter) writeDeclaration(info []infoField) error {
	if err := b.put(bagitTxt, []byte(bagitDecl)); err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, f := range append(info, infoField{"Payload-Oxum", oxum(b.payload)}) {
		if strings.ContainsAny(f.value, "\r\n") {
			return fmt.Errorf("bag-info: %s holds a line break", f.name)
		}
		fmt.Fprintf(&buf, "%s: %s\n", f.name, f.value)
	}
	if err := b.put(bagInfoTxt, buf.Bytes()); err != nil {
		return err
	}
	for _, alg := range algorithms {
		if err := b.put("manifest-"+alg+".txt", manifest(b.payload, alg)); err != nil {
			return err
		}
	}
	return nil
}

// writeTagManifests writes the tag manifests over every tag file written
// so far and returns the SHA-256 of tagmanifest-sha256.txt, which names
// the package.
func (b *bagWriter) writeTagManifests() (hashing.Digest, error) {
	var named hashing.Digest
	for _, alg := range algorithms {
		data := manifest(b.tags, alg)
		if alg == "sha256" {
			named = hashing.Sum256(data)
		}
		path := filepath.Join(b.dir, "tagmanifest-"+alg+".txt")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return hashing.Digest{}, err
		}
	}
	return named, nil
}

// manifestLine is one parsed manifest line.
type manifestLine struct {
	hex, path string
}

// parseManifest reads a manifest in the form Exhibit writes (and
// sha256sum reads): "<lowercase hex>  <path>" per line, ASCII paths, each
// once.
func parseManifest(data []byte, alg string) ([]manifestLine, error) {
	hexLen := map[string]int{"sha256": 64, "sha512": 128}[alg]
	var out []manifestLine
	seen := map[string]bool{}
	for i, line := range strings.SplitAfter(string(data), "\n") {
		if line == "" {
			continue
		}
		if !strings.HasSuffix(line, "\n") {
			return nil, fmt.Errorf("line %d does not end in a newline", i+1)
		}
		h, p, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "  ")
		if !ok || len(h) != hexLen || strings.Trim(h, "0123456789abcdef") != "" {
			return nil, fmt.Errorf("line %d is not \"<%s hex>  <path>\"", i+1, alg)
		}
		if !safeName(p) {
			return nil, fmt.Errorf("line %d: path %q is not a plain ASCII bag path", i+1, p)
		}
		if seen[p] {
			return nil, fmt.Errorf("line %d: %s is listed twice", i+1, p)
		}
		seen[p] = true
		out = append(out, manifestLine{hex: h, path: p})
	}
	return out, nil
}

// parseBagInfo reads bag-info.txt: "Name: value" lines (values never
// continue on a next line in what Exhibit writes).
func parseBagInfo(data []byte) (map[string][]string, error) {
	out := map[string][]string{}
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		name, value, ok := strings.Cut(line, ": ")
		if !ok || name == "" || strings.TrimSpace(name) != name {
			return nil, fmt.Errorf("line %d is not \"Name: value\"", i+1)
		}
		out[name] = append(out[name], value)
	}
	return out, nil
}

// checkOxum compares a Payload-Oxum with the payload found.
func checkOxum(value string, octets int64, files int) error {
	o, f, ok := strings.Cut(value, ".")
	no, err1 := strconv.ParseInt(o, 10, 64)
	nf, err2 := strconv.Atoi(f)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("Payload-Oxum %q is not OCTETS.FILES", value)
	}
	if no != octets || nf != files {
		return fmt.Errorf("Payload-Oxum says %d bytes in %d files, the payload holds %d bytes in %d files", no, nf, octets, files)
	}
	return nil
}

// hashFile hashes a file of the bag.
func hashFile(path string) (hashing.Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return hashing.Set{}, err
	}
	defer f.Close()
	return hashing.Reader(f)
}

// walkFiles lists every file under dir as slash paths relative to it.
// Anything but regular files and folders (a link, a device) is an error.
func walkFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%s is not a regular file", rel)
		}
		out = append(out, rel)
		return nil
	})
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return out, err
}
