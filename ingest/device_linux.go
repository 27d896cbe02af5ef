package ingest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/openexhibit/exhibit/custody"
)

// mountTable is the mount table as last read, for naming the file system
// each file is read from. It is read again only when a file is on a
// device it does not list (a card inserted during the run): reading it
// for every file cost a fifth of the time of ingesting a small photo.
type mountTable struct {
	mu      sync.Mutex
	entries []custody.Device
	missed  map[string]bool // device IDs a fresh read did not list (btrfs subvolumes, overlays)
}

// device names the file system an open file is on: its device number and,
// from /proc/self/mountinfo, where it is mounted, its type and what was
// mounted (the memory card's partition, say). Nil when not even the device
// number can be read. When the same device is mounted more than once, the
// mount that contains the file's absolute path is preferred.
func (t *mountTable) device(fi os.FileInfo, path string) *custody.Device {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	d := &custody.Device{ID: fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.missed[d.ID] && !slices.ContainsFunc(t.entries, func(m custody.Device) bool { return m.ID == d.ID }) {
		t.entries = readMountinfo()
		if !slices.ContainsFunc(t.entries, func(m custody.Device) bool { return m.ID == d.ID }) {
			if t.missed == nil {
				t.missed = map[string]bool{}
			}
			t.missed[d.ID] = true // the table does not name it: do not read it again for it
		}
	}
	abs, _ := filepath.Abs(path)
	best := -1
	for _, m := range t.entries {
		if m.ID != d.ID {
			continue
		}
		n := len(m.Mount)
		if !within(abs, m.Mount) {
			n = 0
		}
		if n > best {
			best, d.Mount, d.Type, d.Source = n, m.Mount, m.Type, m.Source
		}
	}
	return d
}

// readMountinfo reads this process's mount table (nil if it cannot).
func readMountinfo() []custody.Device {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []custody.Device
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if m, ok := parseMountinfo(sc.Text()); ok {
			out = append(out, m)
		}
	}
	return out
}

// parseMountinfo reads one line of /proc/self/mountinfo:
// "36 35 98:0 /root /mnt rw,noatime master:1 - ext3 /dev/sda1 rw".
func parseMountinfo(line string) (custody.Device, bool) {
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if len(f) < 5 || sep < 0 || sep+2 >= len(f) {
		return custody.Device{}, false
	}
	return custody.Device{ID: f[2], Mount: unescapeMount(f[4]), Type: f[sep+1], Source: unescapeMount(f[sep+2])}, true
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
