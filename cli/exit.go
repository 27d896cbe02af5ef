package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/ingest"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/verify"
)

// Exit codes. They are part of the command-line interface (docs/operations.md)
// and never change meaning.
const (
	ExitOK           = 0
	ExitVerifyFail   = 1 // tampered, or an item missing (unverifiable items are 7)
	ExitUsage        = 2 // bad arguments or configuration
	ExitNotFound     = 3 // item not in the archive
	ExitIO           = 4 // store or file system error (unreachable, refused, full)
	ExitKey          = 5 // signing key missing, unreadable or wrong passphrase
	ExitInput        = 6 // some inputs could not be ingested (the rest were), or none was
	ExitUnverifiable = 7 // verify: the trust file lacks a key, TSA or log items need
	ExitInterrupted  = 130
)

// exitError carries an exit code and a hint saying what to do next.
type exitError struct {
	code int
	err  error
	hint string
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, a...)}
}

func withCode(code int, err error, hint string) error {
	return &exitError{code: code, err: err, hint: hint}
}

// kindCodes are the exit codes of the archive's error kinds.
var kindCodes = map[archive.Kind]int{archive.KindIO: ExitIO, archive.KindConfig: ExitUsage, archive.KindKey: ExitKey,
	archive.KindNotFound: ExitNotFound, archive.KindTampered: ExitVerifyFail, archive.KindUnverifiable: ExitUnverifiable}

// classify maps an error to an exit code and a hint.
func classify(err error) (int, string) {
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.hint != "" {
			return ee.code, ee.hint
		}
		_, hint := classify(ee.err)
		return ee.code, hint
	}
	var ae *archive.Error
	if errors.As(err, &ae) {
		code, hint := classify(ae.Err)
		if ae.Kind != archive.KindIO || code == ExitIO {
			code = kindCodes[ae.Kind]
		}
		if ae.Hint != "" {
			hint = ae.Hint
		}
		return code, hint
	}
	var ce *ingest.ConflictError
	var te *sign.TSAError
	var de *verify.DescriptorError
	switch {
	case errors.As(err, &de):
		return ExitVerifyFail, "the archive descriptor (" + custody.ArchiveKey + ") is not the one the trust file pinned: keep it as evidence, restore the one init wrote from a copy, and run exhibit verify --all"
	case ledger.IsTampering(err) || errors.Is(err, storage.ErrTooLarge):
		return ExitVerifyFail, "the archive does not hold what was signed: keep it as evidence and run exhibit verify --all"
	case errors.As(err, &ce):
		return ExitVerifyFail, "inspect the item with exhibit verify; ingest will not sign over an altered archive"
	case errors.Is(err, context.Canceled):
		return ExitInterrupted, "interrupted: nothing half-written was kept; run the same command again to complete it"
	case errors.Is(err, archive.ErrNoPassphrase):
		return ExitKey, "set EXHIBIT_PASSWORD or EXHIBIT_PASSWORD_FILE (and EXHIBIT_LOG_PASSWORD when the custody log key's differs), or run the command in a terminal to be asked"
	case errors.Is(err, sign.ErrPassphrase):
		return ExitKey, "check the passphrase (EXHIBIT_PASSWORD or the prompt; EXHIBIT_LOG_PASSWORD for the custody log key when it differs)"
	case errors.Is(err, sign.ErrKey):
		return ExitKey, "check the key path or KMS URI (--key, EXHIBIT_KEY or key: in the configuration)"
	case errors.As(err, &te):
		return ExitIO, "a timestamp is required and a timestamp authority gave none: check that it is up and its URL (tsa: in the configuration, EXHIBIT_TSA), then run the command again"
	case errors.Is(err, storage.ErrUnavailable):
		return ExitIO, "check that the store is running and the endpoint is right, then run the command again"
	case errors.Is(err, storage.ErrDenied):
		return ExitIO, "check the store's credentials and permissions"
	case errors.Is(err, storage.ErrFull):
		return ExitIO, "free space in the store (nothing half-written was kept), then run the command again"
	case errors.Is(err, storage.ErrIntegrity):
		return ExitIO, "the store did not keep what was sent; run exhibit verify --all and check the store's health"
	}
	return ExitIO, ""
}
