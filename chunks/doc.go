// Package chunks makes and uses content-defined chunk indexes of VM images,
// so that a device holding an earlier version of an image fetches only the
// chunks it does not already have.
//
// # The datastore side
//
// Make cuts an image into chunks with a Rabin fingerprint
// (github.com/restic/chunker): a cut falls where the rolling hash of the
// last 64 bytes matches a mask, so an insertion or a changed block moves or
// changes only the chunks around it and the rest of the image cuts as
// before. Each chunk is stored once, by its sha256, in a chunk store
// directory (<store>/<first two hex digits>/<hex>, or <hex>.zst for a
// compressed store: MakeWith's Zstd), and the index lists the chunks in
// image order. A compressed chunk is decoded within its index entry's
// size (ChunkDecoder), so a zstd bomb fails instead of filling memory.
//
// # The index format (version 1)
//
// An index file is one zstd frame (runs of equal chunks, such as the zero
// chunks of a sparse image, compress to almost nothing) whose content is,
// all integers big-endian:
//
//	magic     8 bytes  "EWCHUNKS"
//	version   uint16   1
//	flags     uint16   bit 0 (FlagZstd): the chunk files are zstd frames,
//	          named <hex>.zst; any other set bit is refused
//	pol       uint64   the irreducible Rabin polynomial the cuts used
//	minSize   uint32   smallest chunk but the last
//	maxSize   uint32   largest chunk (at most MaxChunkSize)
//	avgBits   uint8    the cut mask's width: chunks average about minSize+2^avgBits
//	storeLen  uint8    length of store
//	store     storeLen bytes: the chunk store's path relative to the
//	          index's directory ("chunks"); clean, relative, no "..".
//	imageSize uint64
//	imageSHA  32 bytes sha256 of the whole image
//	count     uint64   number of chunks
//	count times:
//	  offset  uint64   where the chunk starts in the image
//	  size    uint32
//	  sha256  32 bytes
//	trailer   32 bytes sha256 of every byte above (a torn or damaged
//	          index is refused, not half-used)
//
// Parse checks everything against Limits before it allocates: the count
// against the image size and the minimum chunk size, every size against
// maxSize, that the chunks tile the image exactly (each starts where the
// previous ended, the last ends at imageSize), and, when the caller names
// the image it wants, that the index is for that image.
//
// # The device side
//
// NewPlan chunks local seeds (earlier versions of the image, other blobs of
// the same format) with the index's own parameters and maps every chunk of
// the index to a place in a seed or to a fetch. Assemble then writes the
// image in order into a writer: seed chunks are read back and their digest
// checked, missing chunks are fetched in parallel (up to a limit), every
// chunk's sha256 is checked before a byte of it is written, a chunk that
// fails its digest is fetched again a bounded number of times and never
// used, and the whole image's sha256 is checked in the same pass.
package chunks
