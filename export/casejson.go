package export

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/openexhibit/exhibit/custody"
)

// case.jsonld describes the package in CASE 1.4 / UCO 1.4 (JSON-LD): the
// investigation (the case, or the disclosure), per exhibit a
// ProvenanceRecord with its exhibitNumber and the files the package holds
// (uco-observable:File with FileFacet and ContentDataFacet hashes: a
// plain "SHA256"/"SHA512" hashMethod and an xsd:hexBinary hashValue, as
// UCO 1.4 asks), and the InvestigativeActions that acquired, derived and
// exported them, with xsd:dateTime times. Node IDs are URNs: a file's is
// its SHA-256, the others random per package.

var caseContext = map[string]string{
	"case-investigation": "https://ontology.caseontology.org/case/investigation/",
	"uco-action":         "https://ontology.unifiedcyberontology.org/uco/action/",
	"uco-core":           "https://ontology.unifiedcyberontology.org/uco/core/",
	"uco-identity":       "https://ontology.unifiedcyberontology.org/uco/identity/",
	"uco-observable":     "https://ontology.unifiedcyberontology.org/uco/observable/",
	"uco-tool":           "https://ontology.unifiedcyberontology.org/uco/tool/",
	"uco-types":          "https://ontology.unifiedcyberontology.org/uco/types/",
	"xsd":                "http://www.w3.org/2001/XMLSchema#",
}

type node = map[string]any

func typed(t, v string) node { return node{"@type": t, "@value": v} }
func ref(id string) node     { return node{"@id": id} }
func refs(ids []string) []node {
	out := make([]node, len(ids))
	for i, id := range ids {
		out[i] = ref(id)
	}
	return out
}

func dateTime(t time.Time) node { return typed("xsd:dateTime", t.UTC().Format(time.RFC3339Nano)) }

// caseDocument renders case.jsonld.
func (x *exporter) caseDocument(now time.Time) ([]byte, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := func(kind string) string { return nodeID(kind, fmt.Sprintf("%x", b)+kind) }
	var graph []node
	tool := id("tool")
	graph = append(graph, node{"@id": tool, "@type": "uco-tool:Tool", "uco-core:name": "exhibit", "uco-tool:version": x.o.Version})
	var org string
	if x.o.Organization != "" {
		org = id("organization")
		graph = append(graph, node{"@id": org, "@type": "uco-identity:Organization", "uco-core:name": x.o.Organization})
	}
	performer := func(a node) node {
		if org != "" {
			a["uco-action:performer"] = ref(org)
		}
		return a
	}
	var records, actions []string
	for _, ex := range x.exhibits {
		r := ex.Record
		orig := fileNode(r.Original.Digest, r.Original.Size, r.Original.MediaType, r.Name())
		graph = append(graph, orig)
		objects := []string{orig["@id"].(string)}
		for _, d := range r.Derivatives {
			if ex.derived[d.Name] == "" {
				continue
			}
			dn := fileNode(d.Digest, d.Size, d.MediaType, d.Name)
			dn["case-investigation:wasDerivedFrom"] = ref(orig["@id"].(string))
			graph = append(graph, dn)
			objects = append(objects, dn["@id"].(string))
			act := id("derive-" + ex.Number + "-" + d.Name)
			graph = append(graph, performer(node{"@id": act, "@type": "case-investigation:InvestigativeAction",
				"uco-core:name":        "derived " + d.Name + " (" + d.Kind + ", " + d.Transform.Name + " " + d.Transform.Version + ")",
				"uco-action:startTime": dateTime(r.AcquiredAt()), "uco-action:instrument": ref(tool),
				"uco-action:object": ref(orig["@id"].(string)), "uco-action:result": ref(dn["@id"].(string))}))
			actions = append(actions, act)
		}
		rec := id("provenance-" + ex.Number)
		desc := "Exhibit " + ex.Number + ": " + ex.Content
		if ex.Original == "" {
			desc += "; the original is described by its digests only"
		}
		graph = append(graph, node{"@id": rec, "@type": "case-investigation:ProvenanceRecord",
			"case-investigation:exhibitNumber": ex.Number, "uco-core:description": desc, "uco-core:object": refs(objects)})
		records = append(records, rec)
		acq := id("acquire-" + ex.Number)
		a := node{"@id": acq, "@type": "case-investigation:InvestigativeAction", "uco-core:name": "acquired " + r.Name(),
			"uco-action:startTime": dateTime(r.AcquiredAt()), "uco-action:instrument": ref(tool),
			"uco-action:result": refs([]string{orig["@id"].(string), rec})}
		if r.Acquisition != nil && !r.Acquisition.Ended.IsZero() {
			a["uco-action:endTime"] = dateTime(r.Acquisition.Ended)
		}
		if r.Acquisition != nil && r.Acquisition.Clock == custody.ClockHost {
			a["uco-core:description"] = "times from the acquiring machine's clock"
		}
		graph = append(graph, performer(a))
		actions = append(actions, acq)
	}
	exp := id("export")
	graph = append(graph, performer(node{"@id": exp, "@type": "case-investigation:InvestigativeAction",
		"uco-core:name": "exported to " + x.o.Recipient, "uco-action:startTime": dateTime(now), "uco-action:instrument": ref(tool),
		"uco-action:object": refs(records)}))
	actions = append(actions, exp)
	name := "Disclosure to " + x.o.Recipient
	if x.o.Case != "" {
		name = x.o.Case
	}
	inv := node{"@id": id("investigation"), "@type": "case-investigation:Investigation", "uco-core:name": name,
		"case-investigation:focus": "disclosure of " + exhibits(len(x.exhibits)) + " to " + x.o.Recipient,
		"uco-core:object":          refs(append(append([]string{}, records...), actions...))}
	doc := node{"@context": caseContext, "@graph": append([]node{inv}, graph...)}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// nodeID is a node's IRI: its kind and a UUID derived from seed (UCO
// suggests IDs that end in a UUID).
func nodeID(kind, seed string) string {
	h := sha256.Sum256([]byte(seed))
	h[6] = h[6]&0x0f | 0x50 // name-based (version 5 layout, SHA-256)
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("urn:exhibit:%s-%x-%x-%x-%x-%x", strings.ToLower(kind), h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// fileNode is a uco-observable:File with its facets; its ID derives from
// its SHA-256, so the same file has the same ID in every package.
func fileNode(digest map[string]string, size int64, mediaType, name string) node {
	sha := digest["sha256"]
	id := nodeID("file", sha)
	var hashes []node
	for _, alg := range []string{"sha256", "sha512"} {
		if v := digest[alg]; v != "" {
			hashes = append(hashes, node{"@id": nodeID("hash", alg+":"+sha), "@type": "uco-types:Hash",
				"uco-types:hashMethod": strings.ToUpper(alg), "uco-types:hashValue": typed("xsd:hexBinary", v)})
		}
	}
	sz := typed("xsd:integer", fmt.Sprint(size))
	return node{"@id": id, "@type": "uco-observable:File", "uco-core:hasFacet": []node{
		{"@id": nodeID("file-facet", sha), "@type": "uco-observable:FileFacet", "uco-observable:fileName": name, "uco-observable:sizeInBytes": sz},
		{"@id": nodeID("content-facet", sha), "@type": "uco-observable:ContentDataFacet", "uco-observable:mimeType": mediaType,
			"uco-observable:sizeInBytes": sz, "uco-observable:hash": hashes},
	}}
}
