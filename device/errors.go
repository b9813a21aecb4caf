package device

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/edgewright/edgewright/materials"
)

// The errors a craft returns and the executor branches on. They live here,
// beside the role interfaces, so a craft package needs nothing of the
// executor.
var (
	// ErrDigestMismatch: fetched content did not hash to the expected digest.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrTooLarge: a blob's body is larger than a bound allows. It is
	// terminal and the partial is discarded: the same source would send it
	// again.
	ErrTooLarge = errors.New("blob is too large")
	// ErrNoCraft: no craft is configured for what the remodel needs.
	ErrNoCraft = errors.New("no craft for this")
	// ErrNotMovable: a SnapshotMover cannot move this generation's file
	// over the other (see SnapshotMover); nothing was changed, and the
	// executor restores by RestoreFrom instead.
	ErrNotMovable = errors.New("the generation's file cannot be moved")
)

// RetryableError marks an error worth retrying after a backoff (a flaky
// network, a server's 5xx). Everything else is terminal.
type RetryableError struct{ Err error }

func (e *RetryableError) Error() string { return e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// Retryable wraps err as retryable (nil stays nil).
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &RetryableError{Err: err}
}

// DigestMismatchError names what was expected and what arrived.
type DigestMismatchError struct {
	Want, Got string
}

func (e *DigestMismatchError) Error() string {
	return fmt.Sprintf("%v: want %s, got %s", ErrDigestMismatch, e.Want, e.Got)
}
func (e *DigestMismatchError) Unwrap() error { return ErrDigestMismatch }

// TooLargeError names the blob, the bound, where the bound comes from and
// what the source sent or declared.
type TooLargeError struct {
	Blob  materials.Blob
	URL   string
	Bound int64
	// From is the bound's origin: "maxSizeBytes", "descriptor size",
	// "free space".
	From string
	// Got is the declared length, or the bytes read when the body ran past
	// the bound (then Declared is false).
	Got      int64
	Declared bool
}

func (e *TooLargeError) Error() string {
	if e.Declared {
		return fmt.Sprintf("%v: %s (%s) declares %d bytes, more than the %d bytes of its %s", ErrTooLarge, e.URL, e.Blob.Digest, e.Got, e.Bound, e.From)
	}
	return fmt.Sprintf("%v: %s (%s) sent more than the %d bytes of its %s; stopped at byte %d", ErrTooLarge, e.URL, e.Blob.Digest, e.Bound, e.From, e.Got)
}
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// NoSpace reports whether err is a full disk or an exhausted quota:
// retrying cannot make room.
func NoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// Transient reports whether err is a link that broke mid-way (a reset,
// a refused connection, a short body): worth a retry after a backoff.
func Transient(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// TerminalError marks an error never worth retrying, whatever it wraps
// (a refused image, a missing blob the plan said was there).
type TerminalError struct{ Err error }

func (e *TerminalError) Error() string { return e.Err.Error() }
func (e *TerminalError) Unwrap() error { return e.Err }

// Terminal formats an error as fmt.Errorf does and marks it terminal.
func Terminal(format string, args ...any) error {
	return &TerminalError{fmt.Errorf(format, args...)}
}
