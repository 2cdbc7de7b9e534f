//go:build unix

package mysql

import (
	"os"
	"syscall"
)

// fileID is the file's inode: it tells a rotated audit log from the new one at its path.
func fileID(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
