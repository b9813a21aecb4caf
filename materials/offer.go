package materials

import "github.com/opencontainers/go-digest"

// ChunkOffer is what a datastore offers for fetching one blob as chunks
// (an index of the image's chunks beside it, package chunks) and what that
// costs the device given its local seeds: a fact a scout gathers from the
// datastore before a plan is made, since the foreman does no I/O.
//
// A fact holds only for what it was computed against: the blob, the
// datastore asked, the resume offset and the seeds. The foreman uses an
// offer for a download only when all four are the download's (every seed
// still complete on disk and not deleted by the same plan) and ignores it
// otherwise, so a stale offer makes the plan say nothing, never something
// wrong. An offer changes what the plan says and counts as bytes to
// download, never what disk admission charges: the blob is written whole.
type ChunkOffer struct {
	// Blob is the blob the index is for (the index names its sha256).
	Blob digest.Digest `json:"blob"`
	// Datastore is the id of the datastore whose index this is.
	Datastore string `json:"datastore"`
	// Size is the blob's size as the index says (the blob's sha256 is
	// checked when it is written, the index is not trusted before).
	Size int64 `json:"size"`
	// Chunks is the number of chunks in the index.
	Chunks int `json:"chunks"`
	// Offset is the resume point the fetch figures count from: the
	// partial ingest's offset when the scout looked.
	Offset int64 `json:"offset,omitempty"`
	// FetchBytes and FetchChunks are what must come from the chunk store
	// (from Offset on); the rest comes from the seeds or is zeros.
	FetchBytes  int64 `json:"fetchBytes"`
	FetchChunks int   `json:"fetchChunks"`
	// Seeds are the local blobs (in the blob directory) the other chunks
	// are read from, best first: only those that provide a chunk.
	Seeds []digest.Digest `json:"seeds,omitempty"`
	// Whole: the seeds hold too little of the blob for chunks to pay, so
	// the fetcher downloads it whole anyway (FetchBytes is then what is
	// left of the whole blob).
	Whole bool `json:"whole,omitempty"`
}
