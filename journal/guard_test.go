package journal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgewright/edgewright/materials"
)

// sound writes a real journal with a last applied config and enough
// history to span data pages beyond the metas.
func sound(t *testing.T, path string) {
	t.Helper()
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Checkpoint(&materials.Blueprint{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		in := Intent{ApplyID: "a", RemodelID: strings.Repeat("x", 200) + string(rune('a'+i%26)) + string(rune('a'+i/26))}
		if err := j.Begin(in); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDamagedJournalQuarantined(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, p string) {
			os.WriteFile(p, []byte(strings.Repeat("not a bbolt file ", 4096)), 0o600)
		}},
		{"cut to 16KiB", func(t *testing.T, p string) {
			sound(t, p)
			grow(t, p)
			if err := os.Truncate(p, 16<<10); err != nil {
				t.Fatal(err)
			}
		}},
		{"zeroed data page", func(t *testing.T, p string) {
			sound(t, p)
			f, _ := os.OpenFile(p, os.O_RDWR, 0)
			defer f.Close()
			fi, _ := f.Stat()
			ps := int64(os.Getpagesize())
			for off := 2 * ps; off < fi.Size(); off += ps {
				f.WriteAt(make([]byte, ps), off)
			}
		}},
		{"fifo", func(t *testing.T, p string) {
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal.db")
			c.damage(t, path)
			done := make(chan struct{})
			var ro error
			go func() {
				defer close(done)
				jr, err := Open(path, Options{ReadOnly: true})
				if err == nil {
					jr.Close()
				}
				ro = err
			}()
			select {
			case <-done:
			case <-time.After(time.Minute):
				t.Fatal("read-only open hangs") // a harness bound, not a timing claim
			}
			if !errors.Is(ro, ErrDamaged) {
				t.Fatalf("read-only open: %v, want ErrDamaged", ro)
			}
			j, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			q := j.Quarantined()
			if q == nil {
				t.Fatal("not reported as quarantined")
			}
			if _, err := os.Lstat(q.Path); err != nil {
				t.Fatalf("quarantined file: %v", err)
			}
			if bp, err := j.LastApplied(); err != nil || bp != nil {
				t.Fatalf("fresh journal knows a last applied config: %v %v", bp, err)
			}
			if err := j.Checkpoint(&materials.Blueprint{}, time.Now()); err != nil {
				t.Fatal(err)
			}
			if bp, _ := j.LastApplied(); bp == nil {
				t.Fatal("fresh journal does not keep a checkpoint")
			}
		})
	}
}

// grow makes the file longer than 16 KiB of live pages.
func grow(t *testing.T, p string) {
	j, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 400; i++ {
		if err := j.Begin(Intent{ApplyID: "b", RemodelID: strings.Repeat("y", 300) + string(rune(0x100+i))}); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
}

// TestOneMetaPageDamagedSurvived: bbolt keeps two metas; one zeroed is
// survived with the last applied config kept, and is not quarantined.
func TestOneMetaPageDamagedSurvived(t *testing.T) {
	for _, page := range []int64{0, 1} {
		path := filepath.Join(t.TempDir(), "journal.db")
		sound(t, path)
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		ps := int64(os.Getpagesize())
		f.WriteAt(make([]byte, 64), page*ps+16)
		f.Close()
		j, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("meta %d zeroed: %v", page, err)
		}
		if q := j.Quarantined(); q != nil {
			t.Errorf("meta %d zeroed: quarantined (%s)", page, q.Reason)
		}
		if bp, err := j.LastApplied(); err != nil || bp == nil {
			t.Errorf("meta %d zeroed: last applied lost: %v", page, err)
		}
		j.Close()
	}
}
