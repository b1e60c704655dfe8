package webhook

import (
	"syscall"
	"testing"
)

func TestRaiseFileLimit(t *testing.T) {
	// Not parallel: it changes the process's limit.
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skipf("no RLIMIT_NOFILE here: %v", err)
	}
	if rl.Max > 1 && rl.Cur == rl.Max {
		lowered := syscall.Rlimit{Cur: rl.Max - 1, Max: rl.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
			t.Fatalf("lower the soft limit: %v", err)
		}
	}
	soft, hard, err := RaiseFileLimit()
	if err != nil || soft != rl.Max || hard != rl.Max {
		t.Errorf("RaiseFileLimit() = %d, %d, %v; want %d, %d", soft, hard, err, rl.Max, rl.Max)
	}
}
