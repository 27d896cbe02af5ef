package verify

import (
	"fmt"
	"slices"
	"strings"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/sign"
)

// DescriptorError: the archive descriptor is not what the verifier's trust
// file expects of it. The descriptor is written once, by init; a custodian
// who edits it can switch off what it declares (the custody log, and with
// it every event check), so the verifier knows from its own trust material,
// never from the archive, what the descriptor must say.
type DescriptorError struct {
	Expected, Found string
}

func (e *DescriptorError) Error() string {
	return fmt.Sprintf("archive descriptor %s altered: expected %s, found %s", custody.ArchiveKey, e.Expected, e.Found)
}

// CheckDescriptor checks an archive's descriptor against the trust file:
//   - a trust file that trusts any custody log expects the archive to name
//     a log: a descriptor without one (the field removed, empty or null) is
//     a downgrade, whatever the archive's age;
//   - where the trust file pins the descriptor of the named log (written by
//     init since trust file version 3), the descriptor's bytes must be
//     those, so no other field (retention, keys) can be changed either.
//
// A log the trust file does not trust is not an error here: opening it
// fails (the trust file lists no key for it).
func CheckDescriptor(tf *sign.TrustFile, desc *custody.Archive) error {
	if len(tf.Logs) == 0 {
		return nil
	}
	if desc.Log == "" {
		var origins []string
		for _, l := range tf.Logs {
			if !slices.Contains(origins, l.Origin) {
				origins = append(origins, l.Origin)
			}
		}
		return &DescriptorError{Expected: "a custody log (the trust file trusts " + strings.Join(origins, ", ") + ")", Found: "none named"}
	}
	pins := tf.Descriptors(desc.Log)
	if len(pins) > 0 && !slices.Contains(pins, desc.Digest()) {
		return &DescriptorError{Expected: "the descriptor init wrote, " + pins[0], Found: desc.Digest()}
	}
	return nil
}
