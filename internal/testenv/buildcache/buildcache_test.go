package buildcache

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLockExcludes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lock")
	unlock, err := Lock(ctx, path, "the thing", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	defer cancel()
	var said []string
	if _, err := Lock(short, path, "the thing", func(f string, a ...any) { said = append(said, f) }); err == nil ||
		!strings.Contains(err.Error(), "waiting for the the thing build lock") {
		t.Fatalf("second lock while the first is held: %v", err)
	}
	if len(said) != 1 {
		t.Errorf("the wait was announced %d times, want once", len(said))
	}
	unlock()
	unlock2, err := Lock(ctx, path, "the thing", t.Logf)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}

func TestFindDir(t *testing.T) {
	root := t.TempDir()
	rel := filepath.Join("internal", "x", "build")
	if err := os.MkdirAll(filepath.Join(root, rel, "m"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, rel, "m", "go.mod"), []byte("module m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join("m", "go.mod")
	t.Setenv("BUILDCACHE_TEST_DIR", "")
	// Next to the source directory.
	if d, err := FindDir("BUILDCACHE_TEST_DIR", filepath.Join(root, "internal", "x"), rel, marker, "x"); err != nil || d != filepath.Join(root, rel) {
		t.Errorf("from the source dir: %q, %v", d, err)
	}
	// Above the working directory.
	sub := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	if d, err := FindDir("BUILDCACHE_TEST_DIR", "", rel, marker, "x"); err != nil || d != filepath.Join(root, rel) {
		t.Errorf("above the working dir: %q, %v", d, err)
	}
	// The variable wins; nothing found says which variable to set.
	t.Setenv("BUILDCACHE_TEST_DIR", "/elsewhere")
	if d, _ := FindDir("BUILDCACHE_TEST_DIR", "", rel, marker, "x"); d != "/elsewhere" {
		t.Errorf("with the variable set: %q", d)
	}
	t.Setenv("BUILDCACHE_TEST_DIR", "")
	if _, err := FindDir("BUILDCACHE_TEST_DIR", "", "no/such/dir", marker, "x build"); err == nil || !strings.Contains(err.Error(), "set $BUILDCACHE_TEST_DIR") {
		t.Errorf("nothing to find: %v", err)
	}
}
