//go:build !linux

package schematest

import "syscall"

// sysProcAttr runs PgBouncer as cred (nil: this user), in its own process
// group.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true}
}
