package ctrstore

import (
	"context"
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/edgewright/edgewright/assembler/oci"
)

// PullStats says what a Pull did.
type PullStats struct {
	Fetched  int   // blobs fetched (fully or resumed)
	Present  int   // blobs already committed (kept via the lease)
	Resumed  int   // blobs whose ingest resumed at a non-zero offset
	Bytes    int64 // bytes fetched over the network
	Manifest ocispec.Descriptor
	Config   ocispec.Descriptor
	Layers   []ocispec.Descriptor
}

// Pull stores a resolved content tree: it walks top with c, fetches the
// config and layers into ingests (resuming at containerd's offsets, the
// digest checked by containerd at commit), writes the manifest and index
// with their gc labels, children before parents, and finally points the
// image record `<treeID>-<url>` at top. A blob already committed is not
// fetched again. The caller latches top (digest) before calling.
func (s *Store) Pull(ctx context.Context, c *oci.Client, treeID, url string, repo string, top ocispec.Descriptor, progress func(done int64)) (PullStats, error) {
	var st PullStats
	tree, err := c.Walk(ctx, repo, top)
	if err != nil {
		return st, err
	}
	st.Manifest, st.Config, st.Layers = tree.Manifest.Descriptor, tree.Config, tree.Layers
	var done int64
	for _, d := range append([]ocispec.Descriptor{tree.Config}, tree.Layers...) {
		w, err := s.Writer(ctx, treeID, d)
		if errors.Is(err, ErrCommitted) {
			st.Present++
			done += d.Size
			if progress != nil {
				progress(done)
			}
			continue
		}
		if err != nil {
			return st, err
		}
		start := w.Offset()
		if start > 0 {
			st.Resumed++
		}
		base := done
		_, err = c.FetchBlob(ctx, repo, d, w, oci.Resume{Offset: start, SinkVerifies: true, Progress: func(o int64) {
			if progress != nil {
				progress(base + o)
			}
		}})
		st.Bytes += w.Offset() - start
		if err != nil {
			w.Close()
			return st, fmt.Errorf("content tree %s: %w", treeID, err)
		}
		if err := w.Commit(nil); err != nil {
			return st, fmt.Errorf("content tree %s: %w", treeID, err)
		}
		st.Fetched++
		done += d.Size
	}
	if err := s.Put(ctx, treeID, tree.Manifest.Descriptor, tree.Manifest.Data); err != nil {
		return st, fmt.Errorf("content tree %s: manifest: %w", treeID, err)
	}
	if tree.Index != nil {
		if err := s.Put(ctx, treeID, tree.Index.Descriptor, tree.Index.Data); err != nil {
			return st, fmt.Errorf("content tree %s: index: %w", treeID, err)
		}
	}
	if err := s.SetImage(ctx, treeID, url, top); err != nil {
		return st, fmt.Errorf("content tree %s: %w", treeID, err)
	}
	return st, nil
}
