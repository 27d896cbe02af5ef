package archive

import (
	"errors"
	"fmt"
)

// Kind classifies an error for a front end: the command line maps it to an
// exit code, a worker to a retry policy. Errors that carry no Kind are
// store or file system errors (see KindOf).
type Kind int

const (
	// KindIO: the store or the file system failed; retrying may help.
	KindIO Kind = iota
	// KindConfig: the options or the configuration are wrong.
	KindConfig
	// KindKey: a signing or log key is missing, unreadable, or its
	// passphrase is wrong.
	KindKey
	// KindNotFound: the item (or the custody log) is not in the archive.
	KindNotFound
	// KindTampered: the archive does not hold what was signed; keep it as
	// evidence.
	KindTampered
	// KindUnverifiable: the trust file lacks what is needed to check it.
	KindUnverifiable
)

// Error is an error with its Kind and a hint saying what to do next.
type Error struct {
	Kind Kind
	Err  error
	// Hint says what to do next (may be empty).
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of the first *Error in err's chain, and KindIO
// for errors that carry none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindIO
}

func configErr(format string, a ...any) error {
	return &Error{Kind: KindConfig, Err: fmt.Errorf(format, a...)}
}

func withKind(k Kind, err error, hint string) error {
	return &Error{Kind: k, Err: err, Hint: hint}
}

// ErrNoLog: the archive has no custody log (made before logs existed).
var ErrNoLog = errors.New("the archive has no custody log (it was created before Exhibit kept one)")

// UntrustedLogError: the trust file lists no key of the archive's log.
type UntrustedLogError struct {
	Origin string
	Err    error
}

func (e *UntrustedLogError) Error() string {
	return fmt.Sprintf("%v: add the verifier key of the archive's log %s to the trust file (exhibit init printed it)", e.Err, e.Origin)
}

func (e *UntrustedLogError) Unwrap() error { return e.Err }
