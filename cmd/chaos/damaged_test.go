package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pausedAndKilled runs the pause experiment with the real binary, kills it with
// SIGKILL while the webapp is stopped, and returns the journal dir, the journal
// file and the webapp's pid.
func pausedAndKilled(t *testing.T) (string, string, int) {
	t.Helper()
	addr := freePort(t)
	pidFile, _ := webapp(t, addr, false)
	pid := readPID(t, pidFile)
	journal := t.TempDir()
	exp := writeFile(t, "e.yaml", pausedExperiment(addr, pidFile, "60s"))
	cmd := exec.Command(chaosBin, "run", "--journal", journal, "--report-dir", t.TempDir(), "--progress", "none", exp)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return procState(t, pid) == 'T' }, "the process to be paused")
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	files, _ := filepath.Glob(filepath.Join(journal, "*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("journal files %v", files)
	}
	return journal, files[0], pid
}

func checkLines(t *testing.T, out string) {
	t.Helper()
	if out != "" && !strings.HasSuffix(out, "\n") {
		t.Fatalf("recover's output does not end with a newline: %q", out)
	}
}

// Issue 10 item 13: a dangling symlink, a directory and a FIFO named *.jsonl next
// to a good journal are reported (exit 3); the paused process is still resumed.
func TestRecoverThroughStrayJournalFiles(t *testing.T) {
	journal, _, pid := pausedAndKilled(t)
	if err := os.Symlink(filepath.Join(journal, "gone"), filepath.Join(journal, "dangling.jsonl")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(journal, "dir.jsonl"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(journal, "fifo.jsonl"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "recover", "--journal", journal)
	t.Logf("exit %d\n%s%s", code, out, errOut)
	checkLines(t, out)
	if st := procState(t, pid); st == 'T' {
		t.Fatal("the paused process was not resumed")
	}
	for _, want := range []string{"freeze (processPause): reverted", "dangling.jsonl: is a symbolic link", "dir.jsonl: is not a regular file but a directory", "fifo.jsonl: is not a regular file but a named pipe (FIFO)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if code != 3 || !strings.Contains(errOut, "3 item(s) above could not be recovered") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// Issue 10 item 14: the journal's only state record torn (as a crash mid-write,
// or a damaged disk, leaves it): recover cannot know what was paused, so it says
// "could not recover fault freeze", exits 3 and keeps the journal unfinished —
// never "nothing to revert" with the process left stopped.
func TestRecoverTornStateIsAFailure(t *testing.T) {
	journal, file, pid := pausedAndKilled(t)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndex(string(data), `{"event":"state"`)
	if i < 0 {
		t.Fatalf("no state line in\n%s", data)
	}
	if err := os.WriteFile(file, data[:i+40], 0o600); err != nil { // cut mid-record
		t.Fatal(err)
	}
	for range 2 {
		code, out, errOut := runCLI(t, "recover", "--journal", journal)
		t.Logf("exit %d\n%s%s", code, out, errOut)
		checkLines(t, out)
		if code != 3 || !strings.Contains(out, "fault freeze (processPause): failed: could not recover fault freeze: its only state record (line ") ||
			strings.Contains(out, "reverted") || strings.Contains(out, "nothing to revert") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		if _, err := os.Stat(file); err != nil {
			t.Fatalf("the journal was closed: %v", err)
		}
	}
	if st := procState(t, pid); st != 'T' {
		t.Fatalf("state %c: the test expects the process still stopped (nothing could know its pid)", st)
	}
	_ = syscall.Kill(pid, syscall.SIGCONT)
}

func TestRecoverMissingJournalDir(t *testing.T) {
	code, out, errOut := runCLI(t, "recover", "--journal", filepath.Join(t.TempDir(), "nope"))
	if code != 2 || out != "" || !strings.Contains(errOut, "not a directory that exists") || !strings.HasSuffix(errOut, "\n") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}
