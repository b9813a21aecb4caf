package assembler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
)

var (
	// ErrRootLocked: another assembler holds the root's lock and the
	// options say refuse rather than wait.
	ErrRootLocked = errors.New("root is locked by another assembler")
	// ErrStalePlan: the disk changed since the plan was made.
	ErrStalePlan = errors.New("plan is stale: the floorplan changed since it was made")
	// ErrDigestMismatch: fetched content did not hash to the expected digest.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrNoCraft: no craft is configured for what the remodel needs.
	ErrNoCraft = errors.New("no craft for this")
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

// StalePlanError says which fingerprints differ.
type StalePlanError struct{ Plan, Now string }

func (e *StalePlanError) Error() string {
	return fmt.Sprintf("%v: plan made from %s, disk is now %s", ErrStalePlan, e.Plan, e.Now)
}
func (e *StalePlanError) Unwrap() error { return ErrStalePlan }

// DigestMismatchError names what was expected and what arrived.
type DigestMismatchError struct {
	Want, Got string
}

func (e *DigestMismatchError) Error() string {
	return fmt.Sprintf("%v: want %s, got %s", ErrDigestMismatch, e.Want, e.Got)
}
func (e *DigestMismatchError) Unwrap() error { return ErrDigestMismatch }

// errClass is what the retry loop does with an error.
type errClass int

const (
	classTerminal errClass = iota
	classRetryable
	classDigest
	classCancelled
)

// classify decides: cancellation stops, a digest mismatch is retried a
// bounded number of times, a RetryableError or a transient network error
// is retried with backoff, the rest is terminal.
func classify(ctx context.Context, err error) errClass {
	if ctx.Err() != nil {
		return classCancelled
	}
	if noSpace(err) {
		// Retrying cannot make room: fail at once and free what was written.
		return classTerminal
	}
	var re *RetryableError
	switch {
	case errors.Is(err, ErrDigestMismatch):
		return classDigest
	case errors.As(err, &re):
		return classRetryable
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		return classRetryable
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return classRetryable
	}
	return classTerminal
}

// noSpace reports whether err is a full disk or an exhausted quota.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
