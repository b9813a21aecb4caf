package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
)

// TestQuickstart runs the main job into a temporary root, with the blob
// directory and with a real confined containerd, and checks what it
// printed and left on disk: the plans, a purge, a delete, the status
// table, and exactly the volumes of the second config.
func TestQuickstart(t *testing.T) {
	testenv.QemuImg(t)
	t.Run("blob directory", func(t *testing.T) { quickstart(t, options{root: t.TempDir()}) })
	t.Run("containerd", func(t *testing.T) {
		c := testenv.StartContainerd(t)
		out := quickstart(t, options{root: t.TempDir(), socket: c.Address, namespace: "quickstart"})
		if !strings.Contains(out, "blobs: containerd at "+c.Address) {
			t.Errorf("containerd was not used:\n%s", out)
		}
		// The blobs are in containerd's content store, not the blob dir.
		ents, err := os.ReadDir(filepath.Join(c.ContentDir(), "blobs", "sha256"))
		if err != nil || len(ents) < 5 {
			t.Errorf("containerd holds %d blobs (%v), want the 2 disk images and the OCI image's", len(ents), err)
		}
	})
}

func quickstart(t *testing.T, o options) string {
	t.Helper()
	root := o.root
	var out bytes.Buffer
	if err := run(context.Background(), o, &out); err != nil {
		t.Fatalf("quickstart: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"Plan: 1 to resolve, 2 to download, 3 to create.",
		"~ purge-generation volume " + volData + "#2",
		"- delete volume " + volScratch + "#1",
		"-- result: converged in",
		"CREATED_VOLUME",
		"LOADED",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	ents, err := os.ReadDir(filepath.Join(root, "persist/vault/volumes"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{volRoot + "#1.raw", volData + "#2.qcow2", volAppFS + "#1.container"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("volumes on disk %v, want %v", names, want)
	}
	// The container volume holds the image's files, with layer 2's
	// whiteout applied.
	fs := filepath.Join(root, "persist/vault/volumes", volAppFS+"#1.container")
	if b, err := os.ReadFile(filepath.Join(fs, "etc/motd")); err != nil || string(b) != "hello from edgewright\n" {
		t.Errorf("etc/motd: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(fs, "app/old.conf")); !os.IsNotExist(err) {
		t.Errorf("app/old.conf should be whited out: %v", err)
	}
	if _, err := os.Stat(filepath.Join(fs, "app/new.conf")); err != nil {
		t.Errorf("app/new.conf: %v", err)
	}
	return out.String()
}
