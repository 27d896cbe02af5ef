package custody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openexhibit/exhibit/hashing"
)

// VerificationMediaType identifies a verification result set.
const VerificationMediaType = "application/vnd.exhibit.verification+json;version=1"

// VerificationPrefix is where result sets are kept, content-addressed.
const VerificationPrefix = "verifications/"

// Verification is the result set of one verification run over many items
// (verify --all, verify --case): one verified event in the custody log
// names its SHA-256 (Event.Record), so the log grows by one event per run
// however many items it covered, and each item's result is still proven:
// the event's inclusion proof, and this document, whose digest it names.
type Verification struct {
	MediaType string    `json:"mediaType"`
	Time      time.Time `json:"time"`
	Actor     Actor     `json:"actor"`
	// Scope says what was asked: "all", or "case" with Case.
	Scope string `json:"scope"`
	Case  string `json:"case,omitempty"`
	// Checkpoint is the log checkpoint the run proved events against.
	Checkpoint VerifiedCheckpoint `json:"checkpoint"`
	// Items are the results, sorted by item ID, each once.
	Items []VerifiedItem `json:"items"`
}

// VerifiedCheckpoint names a checkpoint by size and root hash (base64).
type VerifiedCheckpoint struct {
	Size int64  `json:"size"`
	Root string `json:"root"`
}

// VerifiedItem is one item's result: "pass", "fail" or "error", as in a
// verified event.
type VerifiedItem struct {
	Item   string `json:"item"`
	Result string `json:"result"`
}

// Marshal encodes the result set canonically (compact JSON, items sorted)
// and returns the bytes and their digest, which the run's event names.
func (v *Verification) Marshal() ([]byte, string, error) {
	if err := v.check(); err != nil {
		return nil, "", err
	}
	c := *v
	c.Time = c.Time.UTC()
	data, err := compactJSON(&c)
	if err != nil {
		return nil, "", fmt.Errorf("custody: encode verification: %w", err)
	}
	return data, hashing.Sum256(data).String(), nil
}

// ParseVerification decodes a result set, strictly.
func ParseVerification(data []byte) (*Verification, error) {
	var v Verification
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("custody: verification: %w", err)
	}
	if err := v.check(); err != nil {
		return nil, err
	}
	return &v, nil
}

func (v *Verification) check() error {
	switch {
	case v.MediaType != VerificationMediaType:
		return fmt.Errorf("custody: verification: media type %q, want %q", v.MediaType, VerificationMediaType)
	case v.Scope != "all" && v.Scope != "case":
		return fmt.Errorf("custody: verification: scope %q, want all or case", v.Scope)
	case (v.Scope == "case") != (v.Case != ""):
		return errors.New("custody: verification: a case is named exactly when the scope is case")
	}
	if !slices.IsSortedFunc(v.Items, func(a, b VerifiedItem) int { return strings.Compare(a.Item, b.Item) }) {
		return errors.New("custody: verification: items are not sorted")
	}
	for i, it := range v.Items {
		if d, err := hashing.ParseDigest(it.Item); err != nil || d.Algorithm != hashing.SHA256 || d.String() != it.Item {
			return fmt.Errorf("custody: verification: item %q is not an item ID", it.Item)
		}
		if i > 0 && v.Items[i-1].Item == it.Item {
			return fmt.Errorf("custody: verification: item %s listed twice", it.Item)
		}
		if it.Result != "pass" && it.Result != "fail" && it.Result != "error" {
			return fmt.Errorf("custody: verification: item %s: result %q", it.Item, it.Result)
		}
	}
	return nil
}

// VerificationKey is where the result set with the given digest
// ("sha256:<hex>") is stored.
func VerificationKey(digest string) string {
	return VerificationPrefix + digest[len("sha256:"):] + ".json"
}
