package ctrsurvey

import (
	"context"
	"maps"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	contentapi "github.com/containerd/containerd/api/services/content/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	leasesapi "github.com/containerd/containerd/api/services/leases/v1"
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

	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

const (
	// gcRefPrefix labels keep a blob's children alive in containerd; they
	// are also how the survey learns an index's or manifest's children
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

// Daemon is one namespace of a containerd daemon's content store and its
// image records, as a survey sees them (an inspector.ContentStore).
type Daemon struct {
	// Socket is containerd's address: a unix socket path, with or without
	// unix://.
	Socket string
	// Namespace is the containerd namespace surveyed; it must not be empty.
	Namespace string
	// Timeout bounds the whole containerd part of the survey; 0 means 30s.
	Timeout time.Duration
	// Logger receives progress at debug level; nil logs nothing.
	Logger *zap.Logger
}

var _ inspector.ContentStore = (*Daemon)(nil)

// survey carries one SurveyStore call's state.
type survey struct {
	d   inspector.Diagnoser
	log *zap.Logger
	cs  content.Store
}

// SurveyStore surveys the namespace's blobs, partial ingests, image
// records and leases. Failures are diagnostics; an unreachable daemon is
// an error diagnostic that inspector.ContainerdUnreachable recognises.
func (o *Daemon) SurveyStore(ctx context.Context, diags inspector.Diagnoser) inspector.StoreContents {
	s := &survey{d: diags, log: o.Logger}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = defaultCtrdTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ctx = namespaces.WithNamespace(ctx, o.Namespace)
	conn := o.connect(ctx, s)
	if conn == nil {
		return inspector.StoreContents{}
	}
	defer conn.Close()
	where := "containerd/" + o.Namespace

	s.cs = proxy.NewContentStore(contentapi.NewContentClient(conn))
	blobs, byDigest := s.blobs(ctx, where)
	blobs = append(blobs, s.ingests(ctx, where)...)
	images := s.images(ctx, imagesapi.NewImagesClient(conn), where, blobs, byDigest)
	leases := s.leases(ctx, leasesapi.NewLeasesClient(conn), where)
	s.log.Debug("surveyed containerd", zap.Int("blobs", len(blobs)), zap.Int("images", len(images)), zap.Int("leases", len(leases)))
	return inspector.StoreContents{Blobs: blobs, Images: images, Leases: leases}
}

// connect dials the daemon and asks for its version, so that a daemon
// that is not there is told apart from an empty store; nil when it
// cannot be reached (said as a diagnostic).
func (o *Daemon) connect(ctx context.Context, s *survey) *grpc.ClientConn {
	if o.Socket == "" {
		s.d.Diag(materials.SeverityError, inspector.DiagContainerd, nil, inspector.MsgContainerdUnreachable+": no socket given")
		return nil
	}
	if o.Namespace == "" {
		s.d.Diag(materials.SeverityError, inspector.DiagContainerd, nil, "containerd namespace is empty; not surveyed")
		return nil
	}
	// containerd's dialer waits for a missing socket to appear until its
	// timeout; a socket that is not there is unreachable now.
	if path := strings.TrimPrefix(o.Socket, "unix://"); !strings.Contains(path, "://") {
		if _, err := os.Stat(path); err != nil {
			s.unreachable(o.Socket, err)
			return nil
		}
	}
	conn, err := dialContainerd(o.Socket)
	if err != nil {
		s.unreachable(o.Socket, err)
		return nil
	}
	v, err := versionapi.NewVersionClient(conn).Version(ctx, &emptypb.Empty{})
	if err != nil {
		conn.Close()
		s.unreachable(o.Socket, errgrpc.ToNative(err))
		return nil
	}
	s.log.Debug("containerd", zap.String("socket", o.Socket), zap.String("version", v.Version),
		zap.String("namespace", o.Namespace))
	return conn
}

// blobs lists the committed blobs with their gc children, and reads each
// index or manifest among them (a blob with gc children; it is small) for
// its media type and what it says of each child, so that the children's
// downloads know their sizes before any image record names the tree.
func (s *survey) blobs(ctx context.Context, where string) ([]materials.BlobRecord, map[digest.Digest]int) {
	byDigest := map[digest.Digest]int{}
	var blobs []materials.BlobRecord
	err := s.cs.Walk(ctx, func(info content.Info) error {
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
		b.Children = s.gcChildren(info, where)
		byDigest[b.Digest] = len(blobs)
		blobs = append(blobs, b)
		return nil
	})
	if err != nil {
		s.d.Diag(materials.SeverityError, where, err, "cannot walk the content store; its blob list is incomplete")
	}
	for i := range blobs {
		if b := &blobs[i]; len(b.Children) > 0 && b.MediaType == "" && b.Size > 0 && b.Size < inspector.MaxManifestSize {
			s.sniff(ctx, b)
		}
	}
	return blobs, byDigest
}

// gcChildren are the digests a blob's gc labels keep alive.
func (s *survey) gcChildren(info content.Info, where string) []digest.Digest {
	set := map[digest.Digest]bool{}
	for k, val := range info.Labels {
		if !strings.HasPrefix(k, gcRefPrefix) {
			continue
		}
		d, err := digest.Parse(val)
		if err != nil {
			s.d.Diag(materials.SeverityWarning, where+"/blobs/"+string(info.Digest), nil,
				"label "+k+" is not a digest: "+val)
			continue
		}
		set[d] = true
	}
	return sortedDigests(set)
}

// ingests are the partial downloads, by the digest they expect (or the
// one their ref names: containerd 1.6 leaves Expected empty).
func (s *survey) ingests(ctx context.Context, where string) []materials.BlobRecord {
	statuses, err := s.cs.ListStatuses(ctx)
	if err != nil {
		s.d.Diag(materials.SeverityError, where, err, "cannot list ingests; partial downloads are missing")
	}
	var out []materials.BlobRecord
	for _, st := range statuses {
		d := st.Expected
		if d == "" {
			if m := digestInRef.FindString(st.Ref); m != "" {
				d = digest.Digest(m)
			}
		}
		out = append(out, materials.BlobRecord{
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
	return out
}

// images are the image records, each with every blob reachable from
// its target.
func (s *survey) images(ctx context.Context, ic imagesapi.ImagesClient, where string, blobs []materials.BlobRecord, byDigest map[digest.Digest]int) []materials.ImageRecord {
	resp, err := ic.List(ctx, &imagesapi.ListImagesRequest{})
	if err != nil {
		s.d.Diag(materials.SeverityError, where, errgrpc.ToNative(err), "cannot list images; image records are missing")
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
		r.Blobs = s.reachable(ctx, blobs, byDigest, target, where+"/images/"+r.Name)
		out = append(out, r)
	}
	return out
}

// leases lists the namespace's leases, and the content each of
// edgewright's holds (a leaked one keeps that content from the
// collector; others' leases are listed, never read further).
func (s *survey) leases(ctx context.Context, lc leasesapi.LeasesClient, where string) []materials.LeaseRecord {
	resp, err := lc.List(ctx, &leasesapi.ListRequest{})
	if err != nil {
		s.d.Diag(materials.SeverityError, where, errgrpc.ToNative(err), "cannot list leases; leases are missing")
		return nil
	}
	var out []materials.LeaseRecord
	for _, l := range resp.GetLeases() {
		r := materials.LeaseRecord{ID: l.GetID(), Labels: copyLabels(l.GetLabels()), CreatedAt: protoTime(l.GetCreatedAt())}
		if r.Labels[layout.OwnerLabel] == layout.OwnerValue {
			res, err := lc.ListResources(ctx, &leasesapi.ListResourcesRequest{ID: r.ID})
			if err != nil {
				s.d.Diag(materials.SeverityWarning, where+"/leases/"+r.ID, errgrpc.ToNative(err), "cannot list the lease's resources")
			}
			for _, x := range res.GetResources() {
				if d, err := digest.Parse(x.GetID()); x.GetType() == "content" && err == nil {
					r.Blobs = append(r.Blobs, d)
				}
			}
		}
		out = append(out, r)
	}
	return out
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

func (s *survey) unreachable(socket string, err error) {
	s.d.Diag(materials.SeverityError, inspector.DiagContainerd, err, inspector.MsgContainerdUnreachable+" at "+socket)
}

// reachable returns every blob reachable from target through children,
// sorted. A blob without gc labels that is small and JSON is read to find
// its children, so that images written without labels are still
// accounted for.
func (s *survey) reachable(ctx context.Context, blobs []materials.BlobRecord,
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
			s.d.Diag(materials.SeverityWarning, where, nil, "references "+string(d)+", which is not in the content store")
			continue
		}
		b := &blobs[i]
		if b.Children == nil && b.MediaType == "" && b.Size > 0 && b.Size < inspector.MaxManifestSize {
			s.sniff(ctx, b)
		}
		queue = append(queue, b.Children...)
	}
	return sortedDigests(seen)
}

// sniff reads a small blob that starts with '{' and records its media
// type and children when it is an index or a manifest.
func (s *survey) sniff(ctx context.Context, b *materials.BlobRecord) {
	ra, err := s.cs.ReaderAt(ctx, ocispec.Descriptor{Digest: b.Digest, Size: b.Size})
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
		s.d.Diag(materials.SeverityWarning, "containerd/blobs/"+string(b.Digest), err, "cannot read small JSON blob")
		return
	}
	if m, ok := inspector.SniffManifest(data); ok {
		b.MediaType, b.Children, b.ChildBlobs = m.MediaType, m.Children, m.ChildBlobs
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

// sortedDigests is nil for an empty set, as inspector.SniffManifest's
// children are.
func sortedDigests(set map[digest.Digest]bool) []digest.Digest {
	return slices.Sorted(maps.Keys(set))
}
