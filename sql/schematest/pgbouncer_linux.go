package schematest

import "syscall"

// sysProcAttr runs PgBouncer as cred (nil: this user), in its own process
// group, and has the kernel kill it if the test process dies first.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
