package main

import (
	"path/filepath"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/crafts/chunkfetch"
	"github.com/edgewright/edgewright/materials"
)

// installChunkFetch puts a chunkfetch.Fetcher in front of the HTTP(S)
// fetcher: seeds are the blobs of the root's blob directory
// (assembler.NewBlobDir's <root>/persist/blobs/sha256).
func installChunkFetch(c *assembler.Crafts, root string, log *zap.Logger) {
	if c.Fetchers == nil {
		c.Fetchers = map[materials.DatastoreType]assembler.Fetcher{}
	}
	cf := &chunkfetch.Fetcher{
		Whole:  &assembler.HTTPFetcher{Logger: log},
		Seeds:  chunkfetch.DirSeeds(filepath.Join(root, "persist", "blobs", "sha256"), 0),
		Logger: log,
	}
	for _, t := range []materials.DatastoreType{materials.DatastoreHTTP, materials.DatastoreHTTPS} {
		if c.Fetchers[t] == nil {
			c.Fetchers[t] = cf
		}
	}
}
