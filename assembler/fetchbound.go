package assembler

import (
	"golang.org/x/sys/unix"
)

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
