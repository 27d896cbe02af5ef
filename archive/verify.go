package archive

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/verify"
)

// Target is one item to verify: by ID, or found from a file (File names
// it, for the report).
type Target struct {
	ID   hashing.Digest
	File string
}

// Selection is what Verify checks: the Items named, or every item of a
// Case, or All items. For a case or all items, the signed log, not the
// archive's listing, says what the archive held: an item it records that
// the archive lacks is reported MISSING.
type Selection struct {
	Items []Target
	Case  string
	All   bool
}

func (s Selection) whole() bool { return s.All || s.Case != "" }

// VerifyOptions configure a verification.
type VerifyOptions struct {
	// Identities decrypt encrypted originals and metadata.
	Identities []age.Identity
	// RequireTimestamp fails a bundle without a verified timestamp;
	// MinTimestamps asks for that many from distinct trusted TSAs.
	RequireTimestamp bool
	MinTimestamps    int
	// Fixity puts the run on record as a scheduled audit: fixity-checked
	// events in place of verified ones.
	Fixity bool
	// Copy receives the objects as they are checked (verify.Verifier.Copy).
	Copy func(item hashing.Digest, rec *custody.Record, what string) verify.CopyWriter
}

// Verification is the outcome of Verify.
type Verification struct {
	Report *verify.Report
	// LogErr: the run could not be put on record (not tampering: that
	// fails the report). KeyErr: this home holds the log key and it did
	// not open, so the run is not on record either.
	LogErr, KeyErr error
}

// Verify checks the selected items (see verify.Verifier) on as many
// goroutines as there are CPUs, and hands each item's report to each in
// the selection's order, as it becomes ready. The items' custody events
// are proven against the log's checkpoint, which must extend the one this
// home remembers. When this home holds the log key, the run is put on
// record: a verified event per item named, or for a case or all items one
// event naming the run's result set (custody.Verification).
func (a *Archive) Verify(ctx context.Context, sel Selection, o VerifyOptions, each func(*verify.ItemReport)) (*Verification, error) {
	v := &verify.Verifier{Store: a.store, Trust: a.trust, Identities: o.Identities, RequireTimestamp: o.RequireTimestamp, MinTimestamps: o.MinTimestamps,
		Copy: o.Copy}
	cl, err := a.openLog(ctx, logTryWrite, false)
	var ue *UntrustedLogError
	var de *verify.DescriptorError
	// unusable is why the archive's log cannot be used: every item fails,
	// and so does a run that finds no item.
	var unusable error
	switch {
	case errors.As(err, &de):
		unusable = withKind(KindTampered, de, "")
		v.Log = verify.UnusableLog(verify.Check{Name: "archive descriptor", Object: custody.ArchiveKey, Status: verify.Fail,
			Expected: de.Expected, Found: de.Found, Detail: "the descriptor is written once, by init: someone changed it"})
	case errors.As(err, &ue):
		unusable = withKind(KindUnverifiable, ue, "")
		v.Log = verify.UnusableLog(verify.Check{Name: "log checkpoint", Status: verify.Untrusted, Detail: ue.Error()})
	case errors.Is(err, ErrNoLog):
		a.note("custody log: " + err.Error() + ": items are verified without custody events")
	case err != nil:
		return nil, err
	default:
		v.Log = verify.OpenLog(ctx, cl.log, a.store, a.trust, o.RequireTimestamp)
	}
	if unusable != nil {
		cl = nil
	}
	targets, deleted, err := a.targets(ctx, v, sel)
	var none *noItemsError
	if errors.As(err, &none) && unusable != nil {
		return nil, unusable
	}
	if err != nil {
		return nil, err
	}
	rep := &verify.Report{Archive: a.store.Location(), Checked: time.Now().UTC(), Status: verify.Pass}
	add := func(ir verify.ItemReport) {
		rep.Add(ir)
		each(&rep.Items[len(rep.Items)-1])
	}
	if err := verifyEach(ctx, v, targets, add); err != nil {
		return nil, err
	}
	for _, ir := range deleted {
		add(ir)
	}
	res := &Verification{Report: rep}
	if v.Log != nil && v.Log.Usable {
		if err := cl.remember(v.Log.Checkpoint, v.Log.Signed); err != nil {
			return nil, err
		}
		if cl.writable {
			typ := custody.EventVerified
			if o.Fixity {
				typ = custody.EventFixityChecked
			}
			if res.LogErr = a.logVerified(ctx, cl, rep, sel, v.Log.Checkpoint, typ); ledger.IsTampering(res.LogErr) {
				rep.Status = verify.Fail
			}
		}
	}
	if cl != nil {
		res.KeyErr = cl.keyErr
	}
	return res, nil
}

// verifyEach verifies the targets on as many goroutines as there are CPUs
// (each item is mostly signature and proof checks, CPU-bound on small
// items) and hands the reports to report in the targets' order, as each
// becomes ready. It stops at the first target not started when ctx ends,
// and returns once the items started are done.
func verifyEach(ctx context.Context, v *verify.Verifier, targets []Target, report func(verify.ItemReport)) error {
	reports := make([]verify.ItemReport, len(targets))
	ready := make([]chan struct{}, len(targets))
	for i := range ready {
		ready[i] = make(chan struct{})
	}
	next := make(chan int)
	ctx, cancel := context.WithCancel(ctx)
	// Every worker has returned when verifyEach does, also when ctx ends:
	// none goes on reading (or handing objects to Copy) after it.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	go func() {
		defer close(next)
		for i := range targets {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				reports[i] = v.Item(ctx, targets[i].ID)
				reports[i].File = targets[i].File
				close(ready[i])
			}
		}()
	}
	for i := range targets {
		select {
		case <-ready[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		report(reports[i])
	}
	return nil
}

// noItemsError: a verification of a case or of all items found nothing.
type noItemsError struct{ what string }

func (e *noItemsError) Error() string { return e.what }

// targets chooses what Verify checks: the named items, or every item of
// the archive (of the case) as the archive lists them and as the signed
// log records them; items the log records that the archive lacks come
// back as deleted.
func (a *Archive) targets(ctx context.Context, v *verify.Verifier, sel Selection) ([]Target, []verify.ItemReport, error) {
	if !sel.whole() {
		return sel.Items, nil, nil
	}
	ids, err := v.Items(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list items: %w", err)
	}
	// Items the log records as ingested (into the case) must still be there.
	logged, err := v.Log.LoggedItems(ctx)
	if err != nil {
		return nil, nil, logFailure(fmt.Errorf("read the custody log: %w", err))
	}
	var targets []Target
	have := map[string]bool{}
	for _, id := range ids {
		have[id.String()] = true
		if sel.Case != "" {
			c, err := v.CaseOf(ctx, id)
			if err != nil {
				// A record that does not verify is verified (and
				// reported) anyway, unless the log puts it in another case.
				c = sel.Case
				if l, ok := logged[id.String()]; ok && l.Case != "" {
					c = l.Case
				}
			}
			if c != sel.Case {
				continue
			}
		}
		targets = append(targets, Target{ID: id})
	}
	var deleted []verify.ItemReport
	for _, item := range slices.Sorted(maps.Keys(logged)) {
		if !have[item] && (sel.Case == "" || logged[item].Case == sel.Case) {
			deleted = append(deleted, verify.DeletedItem(item, logged[item]))
		}
	}
	if len(targets) == 0 && len(deleted) == 0 {
		what := "the archive holds no items"
		if sel.Case != "" {
			what = fmt.Sprintf("no items in case %q", sel.Case)
		}
		return nil, nil, withKind(KindNotFound, &noItemsError{what}, "")
	}
	return targets, deleted, nil
}

// logVerified puts the run on record. A run over named items appends one
// verified event per item found, with its result, in one batch; a run over
// the archive or a case, which a fixity routine repeats over thousands of
// items, writes its result set once (custody.Verification,
// content-addressed under verifications/) and appends one event naming it,
// so that the log grows by one event per run while each item's result
// stays provable.
func (a *Archive) logVerified(ctx context.Context, cl *custodyLog, rep *verify.Report, sel Selection, cp custody.Checkpoint, typ custody.EventType) error {
	who, err := a.homeActor()
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	var items []custody.VerifiedItem
	overall := "pass"
	for _, ir := range rep.Items {
		result := map[verify.Status]string{verify.Pass: "pass", verify.Warn: "pass", verify.Fail: "fail", verify.Untrusted: "fail",
			verify.Missing: "fail", verify.Error: "error"}[ir.Status]
		if result == "" {
			continue // not in the archive: no item to log about
		}
		if result == "fail" || (result == "error" && overall == "pass") {
			overall = result
		}
		items = append(items, custody.VerifiedItem{Item: ir.Item, Result: result})
	}
	if len(items) == 0 {
		return nil
	}
	if !sel.whole() {
		var events []*custody.Event
		for _, it := range items {
			events = append(events, custody.VerifiedEvent(typ, it.Item, it.Result, now, who))
		}
		_, err = cl.append(ctx, events)
		return err
	}
	slices.SortFunc(items, func(a, b custody.VerifiedItem) int { return strings.Compare(a.Item, b.Item) })
	items = slices.CompactFunc(items, func(a, b custody.VerifiedItem) bool { return a.Item == b.Item })
	run := custody.Verification{MediaType: custody.VerificationMediaType, Time: now, Actor: who, Scope: "all",
		Checkpoint: custody.VerifiedCheckpoint{Size: cp.Size, Root: cp.Root.String()}, Items: items}
	if sel.Case != "" {
		run.Scope, run.Case = "case", sel.Case
	}
	data, digest, err := run.Marshal()
	if err != nil {
		return err
	}
	if err := putIfAbsent(ctx, a.store, custody.VerificationKey(digest), data, a.o.Retention.now()); err != nil {
		return fmt.Errorf("write the verification result set: %w", err)
	}
	_, err = cl.append(ctx, []*custody.Event{custody.VerificationEvent(typ, &run, digest, overall)})
	return err
}
