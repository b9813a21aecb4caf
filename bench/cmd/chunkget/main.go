// Command chunkget downloads one VM image blob into a device root's blob
// directory with the fetcher `wright apply` uses for HTTP datastores
// (chunkfetch in front of the HTTP fetcher, seeds from the blob
// directory), verifies it at commit, and prints what it did. First seed
// the root with the previous version (-seed FILE copies it in as a blob).
//
//	chunkget -root DIR [-seed V1] -url http://HOST/dir/v2.raw -sha256 HEX [-format raw]
package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/crafts/chunkfetch"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

func main() {
	root := flag.String("root", "", "device root")
	seed := flag.String("seed", "", "put this file in the blob directory first (a previous version)")
	rawURL := flag.String("url", "", "image URL")
	sum := flag.String("sha256", "", "image sha256 (hex)")
	format := flag.String("format", "raw", "image format")
	verbose := flag.Bool("v", false, "log")
	flag.Parse()
	ctx := context.Background()
	log1 := zap.NewNop()
	if *verbose {
		log1, _ = zap.NewDevelopment()
	}
	store := assembler.NewBlobDir(*root)
	if *seed != "" {
		if err := putSeed(ctx, store, *seed); err != nil {
			log.Fatal(err)
		}
	}
	if *rawURL == "" {
		return // seeding only
	}
	u, err := url.Parse(*rawURL)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := hex.DecodeString(*sum); err != nil || len(*sum) != 64 {
		log.Fatalf("-sha256 %q is not a sha256", *sum)
	}
	blob := materials.Blob{Digest: digest.NewDigestFromEncoded(digest.SHA256, *sum), Size: 1 << 40}
	req := device.FetchRequest{
		Datastore:   materials.Datastore{ID: "bench", Type: materials.DatastoreHTTP, FQDN: u.Scheme + "://" + u.Host, Path: path.Dir(u.Path)},
		ContentTree: materials.ContentTree{ID: "bench", URL: path.Base(u.Path), Format: materials.Format(*format)},
		Blob:        blob,
	}
	f := &chunkfetch.Fetcher{
		Whole:  &assembler.HTTPFetcher{Logger: log1},
		Seeds:  chunkfetch.DirSeeds(filepath.Join(*root, "persist", "blobs", "sha256"), 0),
		Logger: log1,
	}
	start := time.Now()
	in, err := store.Ingest(ctx, blob)
	if err != nil {
		log.Fatal(err)
	}
	var n int64
	if err := f.Fetch(ctx, req, in, func(done, _ int64) { n = done }); err != nil {
		log.Fatal(err)
	}
	if err := in.Commit(ctx, 0); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("chunkget: %d bytes in %.2fs, sha256 verified\n", n, time.Since(start).Seconds())
}

func putSeed(ctx context.Context, store *assembler.BlobDir, p string) error {
	fh, err := os.Open(p)
	if err != nil {
		return err
	}
	defer fh.Close()
	d, err := digest.FromReader(fh)
	if err != nil {
		return err
	}
	if ok, _, _ := store.Has(ctx, d); ok {
		return nil
	}
	fh.Seek(0, io.SeekStart)
	in, err := store.Ingest(ctx, materials.Blob{Digest: d})
	if err != nil {
		return err
	}
	if _, err := io.Copy(in, fh); err != nil {
		return err
	}
	return in.Commit(ctx, 0)
}
