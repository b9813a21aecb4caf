package assembler

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgewright/edgewright/device"
)

var (
	// ErrRootLocked: another assembler holds the root's lock and the
	// options say refuse rather than wait.
	ErrRootLocked = device.ErrLocked
	// ErrStalePlan: the disk changed since the plan was made.
	ErrStalePlan = errors.New("plan is stale: the floorplan changed since it was made")
	// ErrDigestMismatch: fetched content did not hash to the expected digest.
	ErrDigestMismatch = device.ErrDigestMismatch
	// ErrNoCraft: no craft is configured for what the remodel needs.
	ErrNoCraft = device.ErrNoCraft
	// ErrTooLarge: a blob's body is larger than a bound allows.
	ErrTooLarge = device.ErrTooLarge
)

// The crafts' error types are package device's.
type (
	RetryableError      = device.RetryableError
	DigestMismatchError = device.DigestMismatchError
	TooLargeError       = device.TooLargeError
)

// Retryable wraps err as retryable (nil stays nil).
func Retryable(err error) error { return device.Retryable(err) }

// StalePlanError says which fingerprints differ.
type StalePlanError struct{ Plan, Now string }

func (e *StalePlanError) Error() string {
	return fmt.Sprintf("%v: plan made from %s, disk is now %s", ErrStalePlan, e.Plan, e.Now)
}
func (e *StalePlanError) Unwrap() error { return ErrStalePlan }

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
	case device.Transient(err):
		return classRetryable
	}
	return classTerminal
}

// noSpace reports whether err is a full disk or an exhausted quota.
func noSpace(err error) bool {
	return device.NoSpace(err)
}
