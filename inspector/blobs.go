package inspector

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/materials"
)

// MaxManifestSize is the largest blob read in full to look for an OCI
// index or manifest; anything bigger is a layer or a disk image.
const MaxManifestSize = 4 << 20

// blobDir surveys the plain blob directory: complete blobs under
// persist/blobs/sha256 and partial downloads under persist/blobs/ingest.
// Blobs are not hashed (that is a verify remodel's job): a blob is as
// complete as its name says.
func (s *surveyor) blobDir(ctx context.Context) ([]materials.BlobRecord, error) {
	var out []materials.BlobRecord
	for _, d := range []struct {
		rel    string
		ingest bool
	}{{BlobsSHA256Dir, false}, {BlobsIngestDir, true}} {
		fd, ok := s.openDir(d.rel)
		if !ok {
			continue
		}
		ents := s.readDir(fd, d.rel)
		recs := make([]materials.BlobRecord, len(ents))
		err := s.forEach(ctx, len(ents), func(i int, buf []byte) {
			s.blobEntry(fd, d.rel, ents[i], d.ingest, &recs[i], buf)
		})
		unix.Close(fd)
		if err != nil {
			return nil, fmt.Errorf("survey %s: %w", d.rel, err)
		}
		out = append(out, recs...)
		s.log.Debug("surveyed blob directory", zap.String("dir", d.rel), zap.Int("entries", len(recs)))
	}
	return out, nil
}

func (s *surveyor) blobEntry(dirfd int, rel string, e dirent, ingest bool, b *materials.BlobRecord, buf []byte) {
	b.Store = materials.BlobStoreDir
	b.Path = e.path
	unknown := func(why string) {
		b.State, b.Reason = materials.StateUnknown, why
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, e.name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
			b.Size = st.Size
			b.CreatedAt, b.UpdatedAt = statMtime(&st), statMtime(&st)
		}
	}
	if why := untrusted(e.name); why != "" {
		unknown(why)
		return
	}
	switch e.typ {
	case unix.DT_REG:
	case unix.DT_LNK:
		unknown(reasonSymlink)
		return
	case unix.DT_DIR:
		unknown("a directory where a blob file belongs")
		return
	default:
		unknown("not a regular file (" + dtName(e.typ) + ")")
		return
	}
	if !isLowerHex64(e.name) {
		unknown("name is not a lower-case sha256 hex digest")
		return
	}
	fd, err := openFile(dirfd, e.name, buf)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			unknown(reasonSymlink)
			return
		}
		s.diag(materials.SeverityWarning, b.Path, err, "cannot open blob")
		unknown("cannot read: " + errValue(err))
		return
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		s.diag(materials.SeverityWarning, b.Path, err, "cannot stat blob")
		unknown("cannot stat: " + errValue(err))
		return
	}
	b.Digest = digest.NewDigestFromEncoded(digest.SHA256, e.name)
	b.CreatedAt, b.UpdatedAt = statMtime(&st), statMtime(&st)
	if ingest {
		// The expected total is not recorded on disk; the written offset is
		// the file's size, where a resumed download continues.
		b.State, b.Reason = materials.StatePartial, "partial download"
		b.Offset = st.Size
		return
	}
	b.State = materials.StateComplete
	b.Size = st.Size
	if st.Size == 0 || st.Size >= MaxManifestSize {
		return
	}
	n, err := unix.Pread(fd, buf[:1], 0)
	if err != nil || n != 1 || buf[0] != '{' {
		return
	}
	data := make([]byte, st.Size)
	if err := preadFull(fd, data); err != nil {
		s.diag(materials.SeverityWarning, b.Path, err, "cannot read small JSON blob")
		return
	}
	if m, ok := SniffManifest(data); ok {
		b.MediaType, b.Children, b.ChildBlobs = m.MediaType, m.Children, m.ChildBlobs
		for _, bad := range m.Bad {
			s.diag(materials.SeverityWarning, b.Path, nil, "manifest names an invalid digest "+fmt.Sprintf("%q", bad))
		}
	}
}

func preadFull(fd int, p []byte) error {
	for off := 0; off < len(p); {
		n, err := unix.Pread(fd, p[off:], int64(off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("short read at %d of %d bytes", off, len(p))
		}
		off += n
	}
	return nil
}
