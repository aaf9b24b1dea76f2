package experiments

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// startSleep starts `sleep 301.<tag>`, a real process matchable by its command line.
func startSleep(t testing.TB, tag string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "301."+tag)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func stateOf(t testing.TB, cmd *exec.Cmd) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/stat")
	if err != nil {
		return 'X'
	}
	s := string(b)
	return s[strings.LastIndexByte(s, ')')+2]
}
