package assembler

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/materials"
)

// ErrTooLarge: a blob's body is larger than a bound allows. It is terminal
// and the partial is discarded: the same source would send it again.
var ErrTooLarge = errors.New("blob is too large")

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

// freeBytesAt is the space available to us under root; 0 when unknown.
func freeBytesAt(root string) int64 {
	var st unix.Statfs_t
	if root == "" || unix.Statfs(root, &st) != nil {
		return 0
	}
	free := st.Bavail * uint64(st.Bsize)
	if free > 1<<62 {
		return 1 << 62
	}
	return int64(free)
}
