package foreman

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// Transcript tests, in the manner of etcd-io/raft's datadriven: each case
// in testdata/*.txt is a `plan` command line with options, the Blueprint
// and Floorplan in a small line language, `----`, and the rendered plan.
// Output with blank lines sits between `----`/`----` pairs. Run with
// -rewrite to regenerate the expected output.
var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of transcript tests")

type transcriptCase struct {
	prefix []string // comments and blank lines before the command
	line   int
	cmd    string
	input  []string
	output string
}

func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	total := 0
	for _, file := range files {
		cases, trailer := readTranscript(t, file)
		total += len(cases)
		for i := range cases {
			c := &cases[i]
			t.Run(fmt.Sprintf("%s:%d", filepath.Base(file), c.line), func(t *testing.T) {
				got := runCase(t, c)
				if *rewrite {
					c.output = got
					return
				}
				if got != c.output {
					t.Errorf("%s:%d: plan differs (-want +got):\n%s", file, c.line, cmp.Diff(c.output, got))
				}
			})
		}
		if *rewrite {
			writeTranscript(t, file, cases, trailer)
		}
	}
	if total < 40 {
		t.Errorf("only %d transcript cases; want at least 40", total)
	}
}

func readTranscript(t *testing.T, file string) ([]transcriptCase, []string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var cases []transcriptCase
	var prefix []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			prefix = append(prefix, l)
			continue
		}
		c := transcriptCase{prefix: prefix, line: i + 1, cmd: l}
		prefix = nil
		for i++; i < len(lines) && lines[i] != "----"; i++ {
			c.input = append(c.input, lines[i])
		}
		if i >= len(lines) {
			t.Fatalf("%s:%d: case without ----", file, c.line)
		}
		var out []string
		if i+1 < len(lines) && lines[i+1] == "----" {
			for i += 2; i < len(lines); i++ {
				if lines[i] == "----" && i+1 < len(lines) && lines[i+1] == "----" {
					i++
					break
				}
				out = append(out, lines[i])
			}
		} else {
			for i++; i < len(lines) && lines[i] != ""; i++ {
				out = append(out, lines[i])
			}
			i-- // the blank line belongs to the next prefix
		}
		if len(out) > 0 {
			c.output = strings.Join(out, "\n") + "\n"
		}
		cases = append(cases, c)
	}
	return cases, prefix
}

func writeTranscript(t *testing.T, file string, cases []transcriptCase, trailer []string) {
	var b strings.Builder
	for _, c := range cases {
		for _, p := range c.prefix {
			b.WriteString(p + "\n")
		}
		b.WriteString(c.cmd + "\n")
		for _, in := range c.input {
			b.WriteString(in + "\n")
		}
		b.WriteString("----\n")
		if strings.Contains(c.output, "\n\n") {
			b.WriteString("----\n" + c.output + "----\n----\n")
		} else {
			b.WriteString(c.output)
		}
	}
	for _, p := range trailer {
		b.WriteString(p + "\n")
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runCase builds the inputs, plans twice (purity), checks the inputs were
// not modified, and renders the plan.
func runCase(t *testing.T, c *transcriptCase) string {
	t.Helper()
	bp, fp, opts, asJSON, err := parseCase(c.cmd, c.input)
	if err != nil {
		t.Fatalf("line %d: %v", c.line, err)
	}
	bp0, fp0 := copyBlueprint(bp), copyFloorplan(fp)
	plan := Plan(bp, fp, opts)
	j1, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range plan.Held {
		if !h.Code.Valid() {
			t.Errorf("line %d: held %s has code %q, not one of remodel.HoldCodes", c.line, h.RemodelID, h.Code)
		}
	}
	checkSummary(t, plan, opts)
	j2, _ := json.Marshal(Plan(bp, fp, opts))
	if !bytes.Equal(j1, j2) {
		t.Errorf("line %d: two plans of the same inputs differ", c.line)
	}
	if d := cmp.Diff(bp0, bp); d != "" {
		t.Errorf("line %d: Plan modified the blueprint: %s", c.line, d)
	}
	if d := cmp.Diff(fp0, fp); d != "" {
		t.Errorf("line %d: Plan modified the floorplan: %s", c.line, d)
	}
	var out bytes.Buffer
	if asJSON {
		b, _ := json.MarshalIndent(plan, "", "  ")
		out.Write(b)
		out.WriteByte('\n')
	} else if err := remodel.RenderText(&out, plan); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(strings.Fields(c.cmd), "summary") {
		out.WriteString(summaryLine(plan.Summary))
	}
	return out.String()
}

// summaryLine renders the figures of a plan's summary the text leaves out.
func summaryLine(s remodel.Summary) string {
	line := "Disk: " + remodel.Bytes(s.BytesToDownload) + " to download, " + remodel.Bytes(s.BytesToWrite) +
		" to write, peak " + remodel.Bytes(s.PeakExtraDiskBytes) + " extra"
	var codes []string
	for c, n := range s.HeldByCode {
		codes = append(codes, string(c)+" "+strconv.Itoa(n))
	}
	sort.Strings(codes)
	if len(codes) > 0 {
		line += "; held: " + strings.Join(codes, ", ")
	}
	return line + "\n"
}

// checkSummary: the plan's summary is what Summarize makes of it, its
// held counts add up, and with the free space known its peak fits in it.
func checkSummary(t *testing.T, p *remodel.Plan, opts Options) {
	t.Helper()
	if d := cmp.Diff(remodel.Summarize(p), p.Summary); d != "" {
		t.Errorf("summary is not Summarize's (-want +got):\n%s", d)
	}
	n := 0
	for _, c := range p.Summary.HeldByCode {
		n += c
	}
	if n != len(p.Held) {
		t.Errorf("held by code adds up to %d, %d held", n, len(p.Held))
	}
	if free, known := budget(opts.Space); known && p.Summary.PeakExtraDiskBytes > free {
		t.Errorf("peak extra disk %d is more than the %d free that admission had", p.Summary.PeakExtraDiskBytes, free)
	}
	if p.Summary.BytesToDownload > p.Summary.BytesToWrite || p.Summary.PeakExtraDiskBytes > p.Summary.BytesToWrite {
		t.Errorf("bytes: %d to download, %d to write, peak %d", p.Summary.BytesToDownload, p.Summary.BytesToWrite, p.Summary.PeakExtraDiskBytes)
	}
}

var testEpoch = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

// parseCase reads the line language:
//
//	plan [now=T] [grace=D] [free=N|unknown] [share=F] [allow-mass-delete] [cleanup] [store=containerd] [json] [summary]
//	ds ID [http|https|oci]
//	tree ID [sha=HEX] [url=U] [format=F] [size=N] [ds=A,B] [gen=N] [name=S] [signed]
//	vol ID#GEN [ct=TREE|blank] [format=F] [max=N] [ro] [apps=A,B] [implicit app=A] [legacy-drive] [name=S]
//	protect|hold|purge KIND ID [reason=S]   withheld KIND ID   incomplete   error PATH MESSAGE...
//	last <any blueprint line>               (the journal's LastApplied)
//	file PATH [vsize=N] [alloc=N] [state=S] [reason=S] [dir]
//	blob HEX [store=S] [state=S] [size=N] [offset=N] [children=H,H] [sizes=N,N] [index|manifest] [owned] [reason=S]
//	image NAME target=HEX [blobs=H,H] [owned]
//	inflight ACTION KIND ID [at=T]   unref KIND ID since=T   latch TREE#GEN url=U digest=HEX
//	limit [action=A] [KIND ID] [reason=S]   fingerprint S | compute-fingerprint
//	survey-error PATH MESSAGE...           (an error diagnostic of the Floorplan)
//
// HEX is a short hex string repeated to 64 digits; sizes take K, M, G;
// times are RFC 3339 or relative to now (-2h). `file vault/NAME` and
// `file img/NAME` abbreviate persist/vault/volumes/ and persist/img/.
func parseCase(cmd string, input []string) (*materials.Blueprint, *materials.Floorplan, Options, bool, error) {
	opts := Options{Now: testEpoch, GracePeriod: 24 * time.Hour}
	bp := &materials.Blueprint{Complete: true}
	fp := &materials.Floorplan{Root: "/root", Fingerprint: "sha256:test"}
	asJSON := false
	words, err := tokens(cmd)
	if err != nil {
		return nil, nil, opts, false, err
	}
	if len(words) == 0 || words[0] != "plan" {
		return nil, nil, opts, false, fmt.Errorf("unknown command %q", cmd)
	}
	a := parseArgs(words[1:])
	if v, ok := a.kv["now"]; ok {
		if opts.Now, err = time.Parse(time.RFC3339, v); err != nil {
			return nil, nil, opts, false, err
		}
	}
	if v, ok := a.kv["grace"]; ok {
		if opts.GracePeriod, err = time.ParseDuration(v); err != nil {
			return nil, nil, opts, false, err
		}
	}
	if v, ok := a.kv["free"]; ok && v != "unknown" {
		// A known free space needs a known file system: its total
		// only says so, admission reads the free bytes.
		opts.Space = materials.Space{FreeBytes: uint64(size(v)), TotalBytes: uint64(max(size(v), 1<<40))}
	}
	if v, ok := a.kv["share"]; ok {
		opts.MassDeleteShare, _ = strconv.ParseFloat(v, 64)
	}
	opts.AllowMassDelete = a.flag["allow-mass-delete"]
	opts.CleanUp = a.flag["cleanup"]
	asJSON = a.flag["json"]
	if v, ok := a.kv["store"]; ok {
		opts.Store = materials.BlobStore(v)
	}
	journal := func() *materials.JournalState {
		if fp.Journal == nil {
			fp.Journal = &materials.JournalState{}
		}
		return fp.Journal
	}
	for _, line := range input {
		w, err := tokens(line)
		if err != nil {
			return nil, nil, opts, false, err
		}
		if len(w) == 0 {
			continue
		}
		target := bp
		if w[0] == "last" {
			j := journal()
			if j.LastApplied == nil {
				j.LastApplied = &materials.Blueprint{Complete: true}
			}
			target = j.LastApplied
			w = w[1:]
			if len(w) == 0 {
				continue
			}
		}
		a := parseArgs(w[1:])
		switch w[0] {
		case "ds":
			ds := materials.Datastore{ID: a.pos(0), Type: materials.DatastoreHTTP, FQDN: "http://ds.example"}
			switch {
			case a.flag["oci"]:
				ds.Type = materials.DatastoreContainerRegistry
			case a.flag["https"]:
				ds.Type = materials.DatastoreHTTPS
			}
			target.Datastores = append(target.Datastores, ds)
		case "tree":
			ct := materials.ContentTree{ID: a.pos(0), URL: a.get("url", a.pos(0)+".img"), Format: materials.Format(a.get("format", "qcow2")),
				DisplayName: a.kv["name"], MaxSizeBytes: uint64(size(a.get("size", "0")))}
			if s, ok := a.kv["sha"]; ok {
				ct.SHA256 = hex64(s)
			}
			if s, ok := a.kv["ds"]; ok {
				ct.Datastores = strings.Split(s, ",")
			}
			ct.Generation = int64(size(a.get("gen", "0")))
			if a.flag["signed"] {
				ct.Signature = &materials.Signature{SignerCertURL: "https://certs.example/signer.pem", Signature: []byte("sig")}
			}
			target.ContentTrees = append(target.ContentTrees, ct)
		case "vol":
			k, err := materials.ParseVolumeKey(a.pos(0))
			if err != nil {
				return nil, nil, opts, false, err
			}
			v := materials.Volume{ID: k.ID, Generation: k.Generation, Origin: materials.OriginBlank, Format: materials.Format(a.get("format", "qcow2")),
				MaxSizeBytes: size(a.get("max", "0")), ReadOnly: a.flag["ro"], DisplayName: a.kv["name"], LegacyDrive: a.flag["legacy-drive"]}
			if ct, ok := a.kv["ct"]; ok {
				v.Origin, v.ContentTree = materials.OriginDownload, ct
			}
			if s, ok := a.kv["apps"]; ok {
				v.Apps = strings.Split(s, ",")
			}
			if a.flag["implicit"] {
				v.Implicit, v.App = true, a.kv["app"]
				v.Apps = []string{v.App}
			}
			v.RefCount = 1 + len(v.Apps)
			target.Volumes = append(target.Volumes, v)
		case "protect", "hold", "purge":
			target.Additions = append(target.Additions, materials.Addition{Kind: materials.AdditionKind(w[0]),
				Target: ref(a.pos(0), a.pos(1)), Reason: a.kv["reason"]})
		case "withheld":
			target.Withheld = append(target.Withheld, ref(a.pos(0), a.pos(1)))
		case "incomplete":
			target.Complete = false
		case "error":
			target.Diagnostics = append(target.Diagnostics, materials.Diagnostic{Severity: materials.SeverityError, Path: a.pos(0), Message: strings.Join(a.positional[1:], " ")})
		case "file":
			fp.Volumes = append(fp.Volumes, volumeFile(a))
		case "blob":
			b := materials.BlobRecord{Digest: dg(a.pos(0)), Store: materials.BlobStore(a.get("store", "dir")),
				State: materials.State(a.get("state", "complete")), Size: size(a.get("size", "0")), Offset: size(a.get("offset", "0")), Reason: a.kv["reason"]}
			if s, ok := a.kv["children"]; ok {
				for _, c := range strings.Split(s, ",") {
					b.Children = append(b.Children, dg(c))
				}
			}
			// sizes=N,N gives what the manifest says of each child.
			if s, ok := a.kv["sizes"]; ok {
				for i, n := range strings.Split(s, ",") {
					b.ChildBlobs = append(b.ChildBlobs, materials.Blob{Digest: b.Children[i], Size: size(n),
						MediaType: "application/vnd.oci.image.layer.v1.tar+gzip"})
				}
			}
			switch {
			case a.flag["index"]:
				b.MediaType = "application/vnd.oci.image.index.v1+json"
			case a.flag["manifest"]:
				b.MediaType = "application/vnd.oci.image.manifest.v1+json"
			}
			if a.flag["owned"] {
				b.Labels = map[string]string{OwnerLabel: OwnerValue}
			}
			fp.Blobs = append(fp.Blobs, b)
		case "image":
			im := materials.ImageRecord{Name: a.pos(0), Target: dg(a.get("target", "00"))}
			if s, ok := a.kv["blobs"]; ok {
				for _, c := range strings.Split(s, ",") {
					im.Blobs = append(im.Blobs, dg(c))
				}
			}
			if a.flag["owned"] {
				im.Labels = map[string]string{OwnerLabel: OwnerValue}
			}
			fp.Images = append(fp.Images, im)
		case "inflight":
			r := ref(a.pos(1), a.pos(2))
			j := journal()
			j.InFlight = append(j.InFlight, materials.InFlight{RemodelID: a.pos(0) + ":" + r.String(), Action: a.pos(0), Target: r,
				StartedAt: when(a.get("at", "-1h"), opts.Now)})
		case "unref":
			j := journal()
			j.Unreferenced = append(j.Unreferenced, materials.Unreferenced{Target: ref(a.pos(0), a.pos(1)), Since: when(a.get("since", "0s"), opts.Now)})
		case "latch":
			k, err := materials.ParseVolumeKey(a.pos(0))
			if err != nil {
				return nil, nil, opts, false, err
			}
			j := journal()
			j.Latches = append(j.Latches, materials.TagLatch{ContentTree: k.ID, Generation: k.Generation, URL: a.kv["url"], Digest: dg(a.kv["digest"]), ResolvedAt: opts.Now.Add(-time.Hour)})
		case "limit":
			l := Limitation{Action: remodel.Action(a.kv["action"]), Reason: a.kv["reason"]}
			if len(a.positional) >= 2 {
				r := ref(a.pos(0), a.pos(1))
				l.Target = &r
			}
			opts.Limitations = append(opts.Limitations, l)
		case "survey-error":
			fp.Diagnostics = append(fp.Diagnostics, materials.Diagnostic{Severity: materials.SeverityError, Path: a.pos(0), Message: strings.Join(a.positional[1:], " ")})
		case "fingerprint":
			fp.Fingerprint = a.pos(0)
		case "compute-fingerprint":
			fp.Fingerprint = ""
		default:
			return nil, nil, opts, false, fmt.Errorf("unknown line %q", line)
		}
	}
	// The architect and the inspector hand over sorted slices.
	sort.Slice(bp.Volumes, func(i, j int) bool { return bp.Volumes[i].Key().Less(bp.Volumes[j].Key()) })
	sort.Slice(bp.ContentTrees, func(i, j int) bool { return bp.ContentTrees[i].ID < bp.ContentTrees[j].ID })
	sort.Slice(fp.Volumes, func(i, j int) bool { return fp.Volumes[i].Path < fp.Volumes[j].Path })
	sort.Slice(fp.Blobs, func(i, j int) bool {
		if fp.Blobs[i].Digest != fp.Blobs[j].Digest {
			return fp.Blobs[i].Digest < fp.Blobs[j].Digest
		}
		return fp.Blobs[i].Store < fp.Blobs[j].Store
	})
	return bp, fp, opts, asJSON, nil
}

func volumeFile(a args) materials.VolumeFile {
	path := a.pos(0)
	switch {
	case strings.HasPrefix(path, "vault/"):
		path = "persist/vault/volumes/" + strings.TrimPrefix(path, "vault/")
	case strings.HasPrefix(path, "clear/"):
		path = "persist/clear/volumes/" + strings.TrimPrefix(path, "clear/")
	case strings.HasPrefix(path, "img/"):
		path = "persist/img/" + strings.TrimPrefix(path, "img/")
	}
	f := materials.VolumeFile{Path: path, State: materials.State(a.get("state", "complete")), Reason: a.kv["reason"],
		VirtualSize: size(a.get("vsize", "0")), AllocatedSize: size(a.get("alloc", "0")), Dir: a.flag["dir"]}
	name := path[strings.LastIndexByte(path, '/')+1:]
	if strings.HasSuffix(name, ".tmp") {
		f.Temp = true
		name = strings.TrimSuffix(name, ".tmp")
		if f.State == materials.StateComplete {
			f.State = materials.StatePartial
		}
	}
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i+1:]
	}
	f.Format = materials.Format(ext)
	if f.Dir || ext == "container" {
		f.Format, f.Dir = materials.FormatContainer, true
	}
	switch {
	case strings.HasPrefix(path, "persist/img/"):
		sha, rest, _ := strings.Cut(base, "-")
		app, purge, _ := strings.Cut(rest, "#")
		n, _ := strconv.ParseInt(purge, 10, 64)
		f.Legacy = &materials.LegacyName{SHA256: hex64(sha), App: app, Purge: n}
	case strings.Contains(path, "/volumes/"):
		if k, err := materials.ParseVolumeKey(base); err == nil {
			f.ID, f.Generation = k.ID, k.Generation
		} else if f.State == materials.StateComplete {
			f.State = materials.StateUnknown
		}
	}
	return f
}

type args struct {
	positional []string
	kv         map[string]string
	flag       map[string]bool
}

func parseArgs(w []string) args {
	a := args{kv: map[string]string{}, flag: map[string]bool{}}
	for _, s := range w {
		if k, v, ok := strings.Cut(s, "="); ok {
			a.kv[k] = v
		} else {
			a.positional = append(a.positional, s)
			a.flag[s] = true
		}
	}
	return a
}

func (a args) pos(i int) string {
	if i < len(a.positional) {
		return a.positional[i]
	}
	return ""
}

func (a args) get(k, def string) string {
	if v, ok := a.kv[k]; ok {
		return v
	}
	return def
}

// tokens splits on spaces, keeping "quoted strings" (after key=) whole.
func tokens(line string) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(line))
	sc.Split(bufio.ScanRunes)
	var cur strings.Builder
	inQuote, have := false, false
	for sc.Scan() {
		r := sc.Text()
		switch {
		case r == `"`:
			inQuote, have = !inQuote, true
		case r == " " && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteString(r)
			have = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	if have {
		out = append(out, cur.String())
	}
	return out, nil
}

func hex64(s string) string {
	if len(s) >= 64 || s == "" {
		return s
	}
	return strings.Repeat(s, 64/len(s)+1)[:64]
}

func dg(s string) digest.Digest { return digest.Digest("sha256:" + hex64(s)) }

func ref(kind, id string) materials.MaterialRef {
	k := materials.MaterialKind(kind)
	if k == materials.KindBlob {
		id = string(dg(id))
	}
	return materials.MaterialRef{Kind: k, ID: id}
}

func size(s string) int64 {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("bad size %q", s))
	}
	return n * mult
}

func when(s string, now time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(fmt.Sprintf("bad time %q", s))
	}
	return now.Add(d)
}
