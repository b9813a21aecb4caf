package inspector

import (
	"context"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	contentapi "github.com/containerd/containerd/api/services/content/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/content/proxy"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgewright/edgewright/materials"
)

const (
	msgUnreachable = "containerd unreachable"
	// gcRefPrefix labels keep a blob's children alive in containerd; they
	// are also how the inspector learns an index's or manifest's children
	// without reading it.
	gcRefPrefix           = "containerd.io/gc.ref.content."
	defaultCtrdTimeout    = 30 * time.Second
	containerdDialTimeout = 5 * time.Second
	// maxGRPCMessage is containerd's own default receive limit.
	maxGRPCMessage = 16 << 20
)

// digestInRef finds an expected digest in an ingest ref such as
// `layer-sha256:<hex>` when the daemon does not report one (containerd
// 1.6 leaves Status.Expected empty).
var digestInRef = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// containerd surveys one namespace of a containerd content store and its
// image records. Failures are diagnostics; an unreachable daemon is an
// error diagnostic that ContainerdUnreachable recognises.
func (s *surveyor) containerd(ctx context.Context, o *ContainerdOptions) ([]materials.BlobRecord, []materials.ImageRecord) {
	if o.Socket == "" {
		s.diag(materials.SeverityError, DiagContainerd, nil, msgUnreachable+": no socket given")
		return nil, nil
	}
	if o.Namespace == "" {
		s.diag(materials.SeverityError, DiagContainerd, nil, "containerd namespace is empty; not surveyed")
		return nil, nil
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = defaultCtrdTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ctx = namespaces.WithNamespace(ctx, o.Namespace)

	// containerd's dialer waits for a missing socket to appear until its
	// timeout; a socket that is not there is unreachable now.
	if path := strings.TrimPrefix(o.Socket, "unix://"); !strings.Contains(path, "://") {
		if _, err := os.Stat(path); err != nil {
			s.unreachable(o.Socket, err)
			return nil, nil
		}
	}
	conn, err := dialContainerd(o.Socket)
	if err != nil {
		s.unreachable(o.Socket, err)
		return nil, nil
	}
	defer conn.Close()
	// The connection is lazy: ask for the version so that a daemon that is
	// not there is told apart from an empty store.
	v, err := versionapi.NewVersionClient(conn).Version(ctx, &emptypb.Empty{})
	if err != nil {
		s.unreachable(o.Socket, errgrpc.ToNative(err))
		return nil, nil
	}
	s.log.Debug("containerd", zap.String("socket", o.Socket), zap.String("version", v.Version),
		zap.String("namespace", o.Namespace))
	where := "containerd/" + o.Namespace

	cs := proxy.NewContentStore(contentapi.NewContentClient(conn))
	byDigest := map[digest.Digest]int{}
	var blobs []materials.BlobRecord
	err = cs.Walk(ctx, func(info content.Info) error {
		b := materials.BlobRecord{
			Digest:    info.Digest,
			Store:     materials.BlobStoreContainerd,
			Size:      info.Size,
			State:     materials.StateComplete,
			Labels:    copyLabels(info.Labels),
			CreatedAt: info.CreatedAt.UTC(),
			UpdatedAt: info.UpdatedAt.UTC(),
		}
		if info.UpdatedAt.IsZero() {
			b.UpdatedAt = b.CreatedAt // containerd 1.6 leaves it unset until a label changes
		}
		set := map[digest.Digest]bool{}
		for k, val := range info.Labels {
			if !strings.HasPrefix(k, gcRefPrefix) {
				continue
			}
			d, err := digest.Parse(val)
			if err != nil {
				s.diag(materials.SeverityWarning, where+"/blobs/"+string(info.Digest), nil,
					"label "+k+" is not a digest: "+val)
				continue
			}
			set[d] = true
		}
		b.Children = sortedDigests(set)
		byDigest[b.Digest] = len(blobs)
		blobs = append(blobs, b)
		return nil
	})
	if err != nil {
		s.diag(materials.SeverityError, where, err, "cannot walk the content store; its blob list is incomplete")
	}

	// A blob with gc children is an index or a manifest: read it (it is
	// small) for its media type and what it says of each child, so that
	// the children's downloads know their sizes before any image record
	// names the tree.
	for i := range blobs {
		if b := &blobs[i]; len(b.Children) > 0 && b.MediaType == "" && b.Size > 0 && b.Size < maxSniff {
			s.sniffContainerd(ctx, cs, b)
		}
	}

	statuses, err := cs.ListStatuses(ctx)
	if err != nil {
		s.diag(materials.SeverityError, where, err, "cannot list ingests; partial downloads are missing")
	}
	for _, st := range statuses {
		d := st.Expected
		if d == "" {
			if m := digestInRef.FindString(st.Ref); m != "" {
				d = digest.Digest(m)
			}
		}
		blobs = append(blobs, materials.BlobRecord{
			Digest:    d,
			Store:     materials.BlobStoreContainerd,
			Size:      st.Total,
			Offset:    st.Offset,
			State:     materials.StatePartial,
			Reason:    "partial ingest",
			Ref:       st.Ref,
			CreatedAt: st.StartedAt.UTC(),
			UpdatedAt: st.UpdatedAt.UTC(),
		})
	}

	resp, err := imagesapi.NewImagesClient(conn).List(ctx, &imagesapi.ListImagesRequest{})
	if err != nil {
		s.diag(materials.SeverityError, where, errgrpc.ToNative(err), "cannot list images; image records are missing")
	}
	var out []materials.ImageRecord
	for _, img := range resp.GetImages() {
		target := digest.Digest(img.GetTarget().GetDigest())
		r := materials.ImageRecord{
			Name:      img.GetName(),
			Target:    target,
			MediaType: img.GetTarget().GetMediaType(),
			Labels:    copyLabels(img.GetLabels()),
			CreatedAt: protoTime(img.GetCreatedAt()),
			UpdatedAt: protoTime(img.GetUpdatedAt()),
		}
		r.Blobs = s.reachable(ctx, cs, blobs, byDigest, target, where+"/images/"+r.Name)
		out = append(out, r)
	}
	s.log.Debug("surveyed containerd", zap.Int("blobs", len(blobs)), zap.Int("images", len(out)))
	return blobs, out
}

// dialContainerd connects to containerd's gRPC API directly, with the
// services the survey needs (version, content, images). They are the same
// in containerd 1.6, 1.7 and 2.x; the full client would only add start-up
// cost to every survey.
func dialContainerd(socket string) (*grpc.ClientConn, error) {
	path := strings.TrimPrefix(socket, "unix://")
	return grpc.NewClient("passthrough:///"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			dctx, cancel := context.WithTimeout(ctx, containerdDialTimeout)
			defer cancel()
			return d.DialContext(dctx, "unix", path)
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxGRPCMessage)),
	)
}

func protoTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime().UTC()
}

func (s *surveyor) unreachable(socket string, err error) {
	s.diag(materials.SeverityError, DiagContainerd, err, msgUnreachable+" at "+socket)
}

// reachable returns every blob reachable from target through children,
// sorted. A blob without gc labels that is small and JSON is read to find
// its children, so that images written without labels are still
// accounted for.
func (s *surveyor) reachable(ctx context.Context, cs content.Store, blobs []materials.BlobRecord,
	byDigest map[digest.Digest]int, target digest.Digest, where string) []digest.Digest {
	seen := map[digest.Digest]bool{}
	queue := []digest.Digest{target}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if seen[d] {
			continue
		}
		seen[d] = true
		i, ok := byDigest[d]
		if !ok {
			s.diag(materials.SeverityWarning, where, nil, "references "+string(d)+", which is not in the content store")
			continue
		}
		b := &blobs[i]
		if b.Children == nil && b.MediaType == "" && b.Size > 0 && b.Size < maxSniff {
			s.sniffContainerd(ctx, cs, b)
		}
		queue = append(queue, b.Children...)
	}
	return sortedDigests(seen)
}

// sniffContainerd reads a small blob that starts with '{' and records its
// media type and children when it is an index or a manifest.
func (s *surveyor) sniffContainerd(ctx context.Context, cs content.Store, b *materials.BlobRecord) {
	ra, err := cs.ReaderAt(ctx, ocispec.Descriptor{Digest: b.Digest, Size: b.Size})
	if err != nil {
		return
	}
	defer ra.Close()
	var first [1]byte
	if n, _ := ra.ReadAt(first[:], 0); n != 1 || first[0] != '{' {
		return
	}
	data := make([]byte, b.Size)
	if n, err := ra.ReadAt(data, 0); int64(n) != b.Size {
		s.diag(materials.SeverityWarning, "containerd/blobs/"+string(b.Digest), err, "cannot read small JSON blob")
		return
	}
	if m, ok := sniffManifest(data); ok {
		b.MediaType, b.Children, b.ChildBlobs = m.mediaType, m.children, m.childBlobs
	}
}

func copyLabels(in map[string]string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
