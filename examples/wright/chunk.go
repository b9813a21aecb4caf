package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/edgewright/edgewright/chunks"
	"github.com/edgewright/edgewright/remodel"
)

func init() {
	commands["chunk"] = command{
		summary: "cut a VM image into a chunk index and chunk store, for incremental downloads",
		run:     runChunk,
	}
}

const chunkSynopsis = "wright chunk IMAGE --out DIR [--store NAME] [--zstd]"

// runChunk writes DIR/<base of IMAGE>.chunks and the chunk store
// DIR/<store>/, so that a publisher puts IMAGE beside them and a device
// that holds an earlier version fetches only the chunks it lacks. Chunking
// every version of an image into the same DIR shares one store, so a
// chunk common to versions is stored once.
func runChunk(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("chunk", chunkSynopsis, stdout, stderr)
	out := fs.String("out", "", "`DIR` to write IMAGE.chunks and the chunk store into")
	store := fs.String("store", "chunks", "chunk store `NAME`, a directory below DIR")
	compress := fs.Bool("zstd", false, "store each chunk zstd-compressed (<hex>.zst): fewer bytes to fetch for images that compress")
	// IMAGE may come before the flags, as in the synopsis.
	var image string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		image, args = args[0], args[1:]
	}
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if image == "" && fs.NArg() == 1 {
		image = fs.Arg(0)
	} else if fs.NArg() > 0 {
		image = ""
	}
	if image == "" || *out == "" {
		fmt.Fprintln(stderr, "usage: "+chunkSynopsis)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, err := os.Open(image)
	if err != nil {
		fmt.Fprintf(stderr, "wright chunk: %v\n", err)
		return exitFailed
	}
	defer f.Close()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(stderr, "wright chunk: --out %s: %v\n", *out, err)
		return exitFailed
	}
	ix, st, err := chunks.MakeWith(ctx, f, filepath.Join(*out, filepath.FromSlash(*store)), *store, chunks.DefaultParams, chunks.MakeOptions{Zstd: *compress})
	if err != nil {
		fmt.Fprintf(stderr, "wright chunk: %s: %v\n", image, err)
		return exitFailed
	}
	idx := filepath.Join(*out, filepath.Base(image)+".chunks")
	if err := chunks.WriteIndexFile(idx, ix); err != nil {
		fmt.Fprintf(stderr, "wright chunk: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "%s: %s, %s, %d chunks (%d distinct); %d new chunk files (%s) in %s\n",
		idx, remodel.Bytes(ix.ImageSize), ix.ImageDigest(), st.Chunks, st.Unique, st.StoredChunks, remodel.Bytes(st.StoredBytes), filepath.Join(*out, *store))
	return exitOK
}
