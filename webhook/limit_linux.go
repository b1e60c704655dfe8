package webhook

import (
	"fmt"
	"syscall"
)

// RaiseFileLimit raises the soft limit on open files (RLIMIT_NOFILE) to the
// hard limit and returns both as they are afterwards; `serve` calls it at
// start and logs them. Every connection the HTTP server keeps (at most
// ServerConfig.MaxConns) and every database connection holds a file
// descriptor, so the cap must stay well below the soft limit. (Go already
// raises the soft limit at start on Linux; this makes sure, and makes the
// limits visible.)
func RaiseFileLimit() (soft, hard uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, fmt.Errorf("read the open-file limit: %w", err)
	}
	if rl.Cur < rl.Max {
		raised := syscall.Rlimit{Cur: rl.Max, Max: rl.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			return rl.Cur, rl.Max, fmt.Errorf("raise the open-file limit from %d to %d: %w", rl.Cur, rl.Max, err)
		}
		rl = raised
	}
	return rl.Cur, rl.Max, nil
}
