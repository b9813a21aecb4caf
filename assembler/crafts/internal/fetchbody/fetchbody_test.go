package fetchbody

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

type memIngest struct {
	data      []byte
	truncated int
}

func (m *memIngest) Write(p []byte) (int, error)                  { m.data = append(m.data, p...); return len(p), nil }
func (m *memIngest) Offset() int64                                { return int64(len(m.data)) }
func (m *memIngest) Truncate() error                              { m.data = nil; m.truncated++; return nil }
func (m *memIngest) Commit(ctx context.Context, size int64) error { return nil }
func (m *memIngest) Close() error                                 { return nil }

// cutReader sends n bytes then fails as a dropped link does.
type cutReader struct {
	r io.Reader
}

func (c cutReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, io.ErrClosedPipe
	}
	return n, err
}

func TestLimitFor(t *testing.T) {
	tests := []struct {
		name          string
		max           uint64
		size, free    int64
		offset        int64
		want          Limit
		wantMaxOffset int64
	}{
		{"nothing bounds it", 0, 0, 0, 0, Limit{}, 0},
		{"maxSizeBytes", 100, 0, 0, 0, Limit{100, "maxSizeBytes"}, 100},
		{"descriptor smaller", 100, 80, 0, 0, Limit{80, "descriptor size"}, 80},
		{"equal: maxSizeBytes named", 100, 100, 0, 0, Limit{100, "maxSizeBytes"}, 100},
		{"free space after the partial", 100, 0, 30, 50, Limit{80, "free space"}, 100},
		{"free space larger", 100, 0, 500, 50, Limit{100, "maxSizeBytes"}, 100},
		{"maxSizeBytes past int64 is no bound", 1 << 63, 0, 0, 0, Limit{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := device.FetchRequest{ContentTree: materials.ContentTree{MaxSizeBytes: tc.max}, Blob: materials.Blob{Size: tc.size}, FreeBytes: tc.free}
			if got := LimitFor(req, tc.offset); got != tc.want {
				t.Errorf("LimitFor = %+v, want %+v", got, tc.want)
			}
			if got := req.MaxOffset(); got != tc.wantMaxOffset {
				t.Errorf("MaxOffset = %d, want %d", got, tc.wantMaxOffset)
			}
			if tc.wantMaxOffset == 0 {
				return
			}
			// A partial as long as the longest body is kept; one byte
			// longer is not its prefix and goes.
			for _, held := range []int64{tc.wantMaxOffset, tc.wantMaxOffset + 1} {
				in := &memIngest{data: make([]byte, held)}
				got, err := Resume(req, in)
				want := held
				if held > tc.wantMaxOffset {
					want = 0
				}
				if err != nil || got != want || in.Offset() != want {
					t.Errorf("Resume with %d bytes held = %d (%v), ingest at %d; want %d", held, got, err, in.Offset(), want)
				}
			}
		})
	}
}

func TestCopy(t *testing.T) {
	body := bytes.Repeat([]byte("edgewright"), 100_000) // 1,000,000 bytes
	n := int64(len(body))
	tests := []struct {
		name      string
		limit     Limit
		src       io.Reader
		done      int64 // already in the ingest
		known     int64
		wantErr   error
		retryable bool
		errHas    string
		wantBytes int64 // in the ingest afterwards
	}{
		{name: "whole body", limit: Limit{n, "maxSizeBytes"}, src: bytes.NewReader(body), known: n, wantBytes: n},
		{name: "unbounded, length unknown", src: bytes.NewReader(body), wantBytes: n},
		{name: "longer than declared: copied, the total raised to it", src: bytes.NewReader(body), known: n - 10, wantBytes: n},
		{name: "after a partial", limit: Limit{n, "maxSizeBytes"}, src: bytes.NewReader(body[1000:]), done: 1000, known: n, wantBytes: n},
		{name: "declared too large", limit: Limit{n - 1, "maxSizeBytes"}, src: bytes.NewReader(body), known: n,
			wantErr: device.ErrTooLarge, errHas: "declares 1000000 bytes"},
		{name: "undeclared, one byte too many", limit: Limit{n - 1, "free space"}, src: bytes.NewReader(body),
			wantErr: device.ErrTooLarge, errHas: "stopped at byte 1000000"},
		{name: "short body is retryable", limit: Limit{n, "maxSizeBytes"}, src: bytes.NewReader(body[:500]), known: n,
			wantErr: io.ErrUnexpectedEOF, retryable: true, wantBytes: 500},
		{name: "a dropped link is retryable and keeps the bytes", src: cutReader{bytes.NewReader(body[:700])}, known: n,
			wantErr: io.ErrClosedPipe, retryable: true, wantBytes: 700},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &memIngest{data: bytes.Clone(body[:tc.done])}
			var last [2]int64
			var calls int
			got, err := tc.limit.Copy(context.Background(), device.FetchRequest{}, in, tc.src, "test://x", tc.done, tc.known, func(d, k int64) {
				if d < last[0] {
					t.Errorf("progress went back from %d to %d", last[0], d)
				}
				last, calls = [2]int64{d, k}, calls+1
			})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			var re *device.RetryableError
			if err != nil && errors.As(err, &re) != tc.retryable {
				t.Errorf("retryable = %v, want %v", !tc.retryable, tc.retryable)
			}
			if tc.errHas != "" && !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("error %q lacks %q", err, tc.errHas)
			}
			if in.Offset() != tc.wantBytes {
				t.Errorf("the ingest holds %d bytes, want %d", in.Offset(), tc.wantBytes)
			}
			if errors.Is(err, device.ErrTooLarge) {
				if in.truncated == 0 {
					t.Errorf("a refused body left its partial")
				}
				return
			}
			if got != tc.wantBytes || !bytes.Equal(in.data, body[:tc.wantBytes]) {
				t.Errorf("Copy returned %d; the ingest holds other bytes than the body's first %d", got, tc.wantBytes)
			}
			// The total is the declared length; 0 (unknown) when none was
			// declared, as device.Fetcher's contract has it.
			// A body that ran past its declared length raises the total
			// to what was written, so known is never below done.
			wantKnown := int64(0)
			if tc.known > 0 {
				wantKnown = max(tc.known, n)
			}
			if err == nil && last != [2]int64{n, wantKnown} {
				t.Errorf("last progress %v, want %d of %d", last, n, wantKnown)
			}
		})
	}
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/1000", 100, 1000, true},
		{" bytes 0-0/* ", 0, 0, true},
		{"bytes 5-9/x", 0, 0, false},
		{"bytes */1000", 0, 0, false},
		{"items 0-1/2", 0, 0, false},
		{"bytes 0-1", 0, 0, false},
		{"", 0, 0, false},
	} {
		start, total, ok := ParseContentRange(tc.in)
		if start != tc.start || total != tc.total || ok != tc.ok {
			t.Errorf("ParseContentRange(%q) = %d, %d, %v; want %d, %d, %v", tc.in, start, total, ok, tc.start, tc.total, tc.ok)
		}
	}
}
