package reporter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgewright/edgewright/materials/eve"
)

// InfoMessages wraps the report in EVE's ZInfoMsg envelopes: one per
// volume generation, one per content tree, and one ZInfoBlobList holding
// every blob (as EVE sends them), in that order. at is the envelope time;
// the zero time leaves it unset, which keeps golden output stable.
func (r *Report) InfoMessages(devID string, at time.Time) []*eve.ZInfoMsg {
	var ts *timestamppb.Timestamp
	if !at.IsZero() {
		ts = timestamppb.New(at)
	}
	var out []*eve.ZInfoMsg
	for _, v := range r.Volumes {
		out = append(out, &eve.ZInfoMsg{Ztype: eve.ZInfoTypes_ZiVolume, DevId: devID, AtTimeStamp: ts,
			InfoContent: &eve.ZInfoMsg_Vinfo{Vinfo: v}})
	}
	for _, c := range r.ContentTrees {
		out = append(out, &eve.ZInfoMsg{Ztype: eve.ZInfoTypes_ZiContentTree, DevId: devID, AtTimeStamp: ts,
			InfoContent: &eve.ZInfoMsg_Cinfo{Cinfo: c}})
	}
	if len(r.Blobs) > 0 {
		out = append(out, &eve.ZInfoMsg{Ztype: eve.ZInfoTypes_ZiBlobList, DevId: devID, AtTimeStamp: ts,
			InfoContent: &eve.ZInfoMsg_Binfo{Binfo: &eve.ZInfoBlobList{Blob: r.Blobs}}})
	}
	return out
}

// MetricMessage wraps the volume metrics in a ZMetricMsg.
func (r *Report) MetricMessage(devID string, at time.Time) *eve.ZMetricMsg {
	m := &eve.ZMetricMsg{DevID: devID, Vm: r.Metrics}
	if !at.IsZero() {
		m.AtTimeStamp = timestamppb.New(at)
	}
	return m
}

// JSONLine renders a message as one line of proto-JSON. protojson varies
// its whitespace on purpose; compacting it makes equal messages give equal
// lines.
func JSONLine(m proto.Message) ([]byte, error) {
	raw, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// WriteJSONLines writes each message as a line of proto-JSON.
func WriteJSONLines(w io.Writer, msgs ...proto.Message) error {
	for _, m := range msgs {
		line, err := JSONLine(m)
		if err != nil {
			return err
		}
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return nil
}

// WriteDelimited writes each message in binary form, each preceded by its
// length as a varint (the framing of protodelim and Java's
// writeDelimitedTo).
func WriteDelimited(w io.Writer, msgs ...proto.Message) error {
	for _, m := range msgs {
		if _, err := (protodelim.MarshalOptions{MarshalOptions: proto.MarshalOptions{Deterministic: true}}).MarshalTo(w, m); err != nil {
			return fmt.Errorf("encode %s: %w", m.ProtoReflect().Descriptor().Name(), err)
		}
	}
	return nil
}

// WriteTable prints the report for people: one row per volume generation,
// content tree and blob.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tID\tGEN\tSTATE\tPROGRESS\tUSED/MAX\tREFS")
	for _, v := range r.Volumes {
		maxSize := "-" // a container volume has no size of its own
		if m := v.GetResources().GetMaxSizeBytes(); m > 0 {
			maxSize = human(m)
		}
		fmt.Fprintf(tw, "volume\t%s\t%d\t%s\t%d%%\t%s/%s\t%d\n", name(v.Uuid, v.DisplayName), v.GenerationCount, v.State,
			v.ProgressPercentage, human(v.GetResources().GetCurSizeBytes()), maxSize, v.GetUsage().GetRefCount())
	}
	for _, c := range r.ContentTrees {
		fmt.Fprintf(tw, "content-tree\t%s\t%d\t%s\t%d%%\t%s/-\t%d\n", name(c.Uuid, c.DisplayName), c.GenerationCount, c.State,
			c.ProgressPercentage, human(c.GetResources().GetCurSizeBytes()), c.GetUsage().GetRefCount())
	}
	for _, b := range r.Blobs {
		fmt.Fprintf(tw, "blob\t%s\t-\t%s\t%d%%\t%s/-\t%d\n", short(b.Sha256), b.State,
			b.ProgressPercentage, human(b.GetResources().GetCurSizeBytes()), b.GetUsage().GetRefCount())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Errors go below the table, one a line, so that a long description
	// does not widen every column.
	var errs []string
	for _, v := range r.Volumes {
		if e := v.GetVolumeErr(); e != nil {
			errs = append(errs, fmt.Sprintf("  volume %s gen %d: %s", v.Uuid, v.GenerationCount, e.Description))
		}
	}
	for _, c := range r.ContentTrees {
		if e := c.GetErr(); e != nil {
			errs = append(errs, fmt.Sprintf("  content-tree %s: %s", c.Uuid, e.Description))
		}
	}
	for _, b := range r.Blobs {
		if e := b.GetErr(); e != nil {
			errs = append(errs, fmt.Sprintf("  blob %s: %s", short(b.Sha256), e.Description))
		}
	}
	if len(errs) > 0 {
		if _, err := fmt.Fprintln(w, "\nerrors:\n"+strings.Join(errs, "\n")); err != nil {
			return err
		}
	}
	return nil
}

// name is a table's ID cell: the display name (cut to 20 runes) and the
// uuid's first group, or the whole uuid when there is no name, so the
// table stays within 100 columns.
func name(id, display string) string {
	if display == "" {
		return id
	}
	if r := []rune(display); len(r) > 20 {
		display = string(r[:19]) + "…"
	}
	if head, _, ok := strings.Cut(id, "-"); ok {
		id = head
	}
	return display + " (" + id + ")"
}

func short(hex string) string {
	if len(hex) > 12 {
		return hex[:12] + "…"
	}
	return hex
}

func human(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Publisher passes on only what changed since the last report it saw.
// Messages are compared by their deterministic binary form; envelope times
// are not part of the comparison.
type Publisher struct {
	last map[string][]byte
}

// NewPublisher returns a Publisher that has seen nothing yet.
func NewPublisher() *Publisher { return &Publisher{last: map[string][]byte{}} }

// Changed returns the part of r that differs from what was last seen, and
// remembers r. Materials that disappeared are listed in Gone by message
// key (`volume/<uuid>#<gen>`, `contentTree/<uuid>`, `blob/<sha256>`,
// `metric/<uuid>`).
func (p *Publisher) Changed(r *Report) (delta *Report, gone []string) {
	seen := map[string]bool{}
	delta = &Report{}
	check := func(key string, m proto.Message) bool {
		seen[key] = true
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			return true
		}
		if old, ok := p.last[key]; ok && bytes.Equal(old, b) {
			return false
		}
		p.last[key] = b
		return true
	}
	for _, v := range r.Volumes {
		if check(fmt.Sprintf("volume/%s#%d", v.Uuid, v.GenerationCount), v) {
			delta.Volumes = append(delta.Volumes, v)
		}
	}
	for _, c := range r.ContentTrees {
		if check("contentTree/"+c.Uuid, c) {
			delta.ContentTrees = append(delta.ContentTrees, c)
		}
	}
	for _, b := range r.Blobs {
		if check("blob/"+b.Sha256, b) {
			delta.Blobs = append(delta.Blobs, b)
		}
	}
	for _, m := range r.Metrics {
		if check("metric/"+m.Uuid, m) {
			delta.Metrics = append(delta.Metrics, m)
		}
	}
	for k := range p.last {
		if !seen[k] {
			gone = append(gone, k)
			delete(p.last, k)
		}
	}
	sort.Strings(gone)
	return delta, gone
}

// Empty reports whether the report holds no message.
func (r *Report) Empty() bool {
	return len(r.Volumes) == 0 && len(r.ContentTrees) == 0 && len(r.Blobs) == 0 && len(r.Metrics) == 0
}
