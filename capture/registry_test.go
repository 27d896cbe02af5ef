package capture

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

type fake struct {
	id    string
	types []string
}

func (f fake) ID() string                                    { return f.id }
func (f fake) MediaTypes() []string                          { return f.types }
func (f fake) Read(context.Context, Source) (*Result, error) { return &Result{}, nil }

func TestRegistry(t *testing.T) {
	g, err := NewRegistry(fake{"a/1", []string{"image/jpeg"}}, fake{"b/1", []string{"image/*"}},
		fake{"c/1", []string{"*/*"}}, fake{"d/1", []string{"text/plain", "image/jpeg"}})
	if err != nil {
		t.Fatal(err)
	}
	for mt, want := range map[string]string{
		"image/jpeg":                "[a/1 b/1 c/1 d/1]",
		"Image/PNG":                 "[b/1 c/1]",
		"text/plain; charset=utf-8": "[c/1 d/1]",
		"":                          "[c/1]",
		"not a media type":          "[c/1]",
	} {
		var ids []string
		for _, r := range g.For(mt) {
			ids = append(ids, r.ID())
		}
		if got := fmt.Sprint(ids); got != want {
			t.Errorf("For(%q) = %s, want %s", mt, got, want)
		}
	}
	if n := len((*Registry)(nil).For("image/jpeg")); n != 0 {
		t.Errorf("a nil registry has %d readers", n)
	}
	for name, readers := range map[string][]Reader{
		"repeated ID":      {fake{"a/1", []string{"image/jpeg"}}, fake{"a/1", []string{"image/png"}}},
		"empty ID":         {fake{"", []string{"image/jpeg"}}},
		"no media type":    {fake{"a/1", nil}},
		"parameters":       {fake{"a/1", []string{"text/plain; charset=utf-8"}}},
		"upper case":       {fake{"a/1", []string{"Image/JPEG"}}},
		"not a media type": {fake{"a/1", []string{"jpeg"}}},
	} {
		if _, err := NewRegistry(readers...); err == nil || !strings.Contains(err.Error(), "capture: reader") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
