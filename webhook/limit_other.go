//go:build !linux

package webhook

import "errors"

// RaiseFileLimit raises the soft limit on open files to the hard limit and
// returns both; it is implemented on Linux only, and reports an error
// elsewhere.
func RaiseFileLimit() (soft, hard uint64, err error) {
	return 0, 0, errors.New("raise the open-file limit: not supported on this system")
}
