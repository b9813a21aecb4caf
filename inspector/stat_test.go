package inspector

import (
	"os"
	"syscall"
)

func statBlocks(fi os.FileInfo) int64 { return fi.Sys().(*syscall.Stat_t).Blocks }
