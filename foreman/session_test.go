package foreman_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/sim"
	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// Sessions, in the manner of etcd-io/raft's interaction tests: one file of
// testdata/sessions is one device's story, a series of directives run in
// order on an in-memory device (assembler/sim) with the real executor:
//
//	device [capacity=N] [containerd] [content-dir=PATH]
//	                 a new, empty device in the same world (1 TiB
//	                 unless capacity says); a session starts with one;
//	                 containerd: downloads go to containerd's store (the
//	                 survey then lists its image records), content-dir:
//	                 and its content directory PATH is known
//	world            input: what the datastores serve (below)
//	config           input: the Blueprint, in the line language's blueprint lines
//	load             input: a starting disk, in the line language's floorplan
//	                 lines (file, blob, inflight, unref, latch, last ...)
//	plan [grace=D] [free=N|unknown] [share=F] [allow-mass-delete] [cleanup] [summary] [json]
//	                 foreman.Plan of the config on the device's survey,
//	                 rendered; free space is the device's unless free= says
//	apply            the real executor carries out the last plan; prints
//	                 each remodel's outcome
//	converge [max=N] [grace=D] [free=N] ...
//	                 the executor's reconcile loop (assembler.Converge):
//	                 plan and apply until the plan is empty; prints each
//	                 round's summary line and outcomes
//	crash-at N       the next apply crashes the device right after its
//	                 Nth durable journal write
//	reboot           the crashed device comes back
//	survey           the device's Floorplan, compact
//	advance D        the clock moves on (a Go duration: 2h, 25h)
//
// world lines:
//
//	object HEX size=N [vsize=N] [broken] [manifest|index] [children=H,H] [follow=H]
//	serve URL HEX    (every HTTP datastore serves HEX at the tree URL)
//	tag REF HEX      (every registry's tag REF names HEX)
//	cut HEX after=N [crash]   (the current device's next fetch of HEX
//	                 stops after N bytes: the link drops, or with crash
//	                 the device crashes)
//	down | up        (every datastore unreachable, or back)
//
// The device names volume files by UUID: so that sessions read like the
// transcripts, a word vN of any input (a volume id) stands for
// 00000000-0000-4000-8000-00000000000N and is written back as vN in the
// output. The clock starts at 2026-11-22T00:00:00Z and moves only with
// advance. Crash points count journal writes over a whole apply, so a
// session that crashes keeps its plan to one chain of remodels: parallel
// remodels would make the count racy.
func TestSessions(t *testing.T) {
	files, err := filepath.Glob("testdata/sessions/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sessions: %v", err)
	}
	applies, ran := 0, 0
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			ran++
			s := newSession()
			datadriven.RunTest(t, file, func(t *testing.T, d *datadriven.TestData) string {
				if d.Cmd == "apply" || d.Cmd == "converge" {
					applies++
				}
				return s.run(t, d)
			})
		})
	}
	if ran < len(files) || t.Failed() {
		return // -run picked some sessions, or the count would only repeat a failure
	}
	if len(files) < 9 || applies < 30 {
		t.Errorf("%d sessions with %d applies; want at least 9 and 30", len(files), applies)
	}
	t.Logf("%d sessions, %d applies", len(files), applies)
}

type session struct {
	world   *sim.World
	dev     *sim.Device
	now     time.Time
	bp      *materials.Blueprint
	limits  []foreman.Limitation
	plan    *remodel.Plan
	crashAt int
	objects map[digest.Digest]sim.Object
	// store is where the device's downloads go; ctrDir its containerd
	// content directory, when known.
	store  materials.BlobStore
	ctrDir string
}

func newSession() *session {
	s := &session{world: sim.NewWorld(), now: testEpoch, bp: &materials.Blueprint{Complete: true},
		objects: map[digest.Digest]sim.Object{}, store: materials.BlobStoreDir}
	s.dev = sim.New(s.world, sim.Options{Clock: func() time.Time { return s.now }})
	return s
}

func (s *session) run(t *testing.T, d *datadriven.TestData) string {
	t.Helper()
	out, err := s.do(t, d)
	if err != nil {
		d.Fatalf(t, "%s: %v", d.Cmd, err)
	}
	return shortSnapIDs(shortVolumeIDs(out))
}

func (s *session) do(t *testing.T, d *datadriven.TestData) (string, error) {
	words, lines := cmdWords(d), inputLines(d)
	for i := range lines {
		lines[i] = longVolumeIDs(lines[i])
	}
	switch d.Cmd {
	case "device":
		a := parseArgs(words)
		s.ctrDir = a.get("content-dir", "")
		s.store = materials.BlobStoreDir
		if a.flag["containerd"] || s.ctrDir != "" {
			s.store = materials.BlobStoreContainerd
		}
		s.dev = sim.New(s.world, sim.Options{CapacityBytes: size(a.get("capacity", "0")), Clock: func() time.Time { return s.now },
			Containerd: s.store == materials.BlobStoreContainerd, ContainerdContentDir: s.ctrDir})
		s.plan, s.crashAt = nil, 0
		return "", nil
	case "world":
		return "", s.setWorld(lines)
	case "config":
		return "", s.config(lines)
	case "load":
		return "", s.load(lines)
	case "plan":
		return s.planCmd(t, d, words)
	case "apply":
		return s.apply()
	case "converge":
		return s.converge(words)
	case "crash-at":
		if len(words) != 1 {
			return "", errors.New("want crash-at N")
		}
		n, err := strconv.Atoi(words[0])
		if err != nil || n < 1 {
			return "", fmt.Errorf("journal write %q: want a positive number", words[0])
		}
		s.crashAt = n
		return "", nil
	case "reboot":
		s.dev.Reboot()
		return "", nil
	case "survey":
		return s.survey()
	case "advance":
		if len(words) != 1 {
			return "", errors.New("want advance DURATION")
		}
		dur, err := time.ParseDuration(words[0])
		if err != nil {
			return "", err
		}
		s.now = s.now.Add(dur)
		return "now " + s.now.Format(time.RFC3339) + "\n", nil
	}
	return "", fmt.Errorf("unknown command (want device, world, config, load, plan, apply, converge, crash-at, reboot, survey, advance)")
}

// config replaces the Blueprint; limit lines become the plan's limitations.
func (s *session) config(lines []string) error {
	bp := &materials.Blueprint{Complete: true}
	fp := &materials.Floorplan{}
	opts := foreman.Options{Now: s.now}
	if err := parseLines(lines, bp, fp, &opts); err != nil {
		return err
	}
	if !emptyFloorplan(fp) {
		return errors.New("a config holds blueprint lines only (the disk is the device's: use load)")
	}
	s.bp, s.limits = bp, opts.Limitations
	return nil
}

// load plants a starting disk on the device.
func (s *session) load(lines []string) error {
	bp := &materials.Blueprint{Complete: true}
	fp := &materials.Floorplan{}
	opts := foreman.Options{Now: s.now}
	if err := parseLines(lines, bp, fp, &opts); err != nil {
		return err
	}
	empty := &materials.Blueprint{Complete: true}
	if !sameJSON(bp, empty) || len(opts.Limitations) > 0 {
		return errors.New("load holds floorplan lines only (and last ... for the journal's last applied config)")
	}
	return s.dev.Load(fp)
}

func emptyFloorplan(fp *materials.Floorplan) bool {
	return len(fp.Volumes) == 0 && len(fp.Blobs) == 0 && len(fp.Images) == 0 && fp.Journal == nil && len(fp.Diagnostics) == 0
}

func (s *session) setWorld(lines []string) error {
	for _, line := range lines {
		w, err := tokens(line)
		if err != nil {
			return err
		}
		if len(w) == 0 {
			continue
		}
		a := parseArgs(w[1:])
		switch w[0] {
		case "object":
			o := sim.Object{Digest: dg(a.pos(0)), Size: size(a.get("size", "0")), VirtualSize: size(a.get("vsize", "0")), Broken: a.flag["broken"]}
			switch {
			case a.flag["manifest"]:
				o.MediaType = "application/vnd.oci.image.manifest.v1+json"
			case a.flag["index"]:
				o.MediaType = "application/vnd.oci.image.index.v1+json"
			}
			if c, ok := a.kv["children"]; ok {
				for _, h := range strings.Split(c, ",") {
					child, ok := s.worldObject(dg(h))
					if !ok {
						return fmt.Errorf("object %s: child %s is not in the world yet", a.pos(0), h)
					}
					o.Children = append(o.Children, child.Digest)
					media := child.MediaType
					if media == "" {
						media = "application/vnd.oci.image.layer.v1.tar+gzip"
					}
					o.ChildBlobs = append(o.ChildBlobs, materials.Blob{Digest: child.Digest, Size: child.Size, MediaType: media})
				}
			}
			if f, ok := a.kv["follow"]; ok {
				m, ok := s.worldObject(dg(f))
				if !ok {
					return fmt.Errorf("object %s: follow %s is not in the world yet", a.pos(0), f)
				}
				o.Follow = &materials.Blob{Digest: m.Digest, Size: m.Size, MediaType: m.MediaType}
			}
			s.world.Put(o)
			s.objects[o.Digest] = o
		case "serve":
			s.world.Serve(worldDS, a.pos(0), dg(a.pos(1)))
		case "tag":
			s.world.Tag(worldDS, a.pos(0), dg(a.pos(1)))
		case "cut":
			s.dev.CutFetch(dg(a.pos(0)), size(a.get("after", "0")), a.flag["crash"])
		case "down", "up":
			s.world.SetDown(worldDS.FQDN, w[0] == "down")
		default:
			return fmt.Errorf("unknown world line %q", line)
		}
	}
	return nil
}

// worldDS is where the line language's datastores point (ds ID makes
// every one at the same host).
var worldDS = materials.Datastore{FQDN: "http://ds.example"}

// worldObject is an object put earlier in the session.
func (s *session) worldObject(d digest.Digest) (sim.Object, bool) {
	o, ok := s.objects[d]
	return o, ok
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

func (s *session) planCmd(t *testing.T, d *datadriven.TestData, words []string) (string, error) {
	for _, w := range words {
		if strings.HasPrefix(w, "now=") {
			return "", errors.New("a session's clock moves with advance, not now=")
		}
	}
	fp, err := s.dev.Survey(context.Background(), nil)
	if err != nil {
		return "", fmt.Errorf("survey: %w", err)
	}
	// As the reconcile loop plans: the device's space, its store.
	opts := foreman.Options{Now: s.now, GracePeriod: 24 * time.Hour, Space: fp.Space, Limitations: s.limits, Store: s.store,
		ContentDirKnown: s.ctrDir != ""}
	asJSON, summary, err := planOptions(words, &opts)
	if err != nil {
		return "", err
	}
	out := renderPlan(t, d, s.bp, fp, opts, asJSON, summary)
	s.plan = foreman.Plan(s.bp, fp, opts)
	return out, nil
}

// converge runs the executor's reconcile loop (assembler.Converge): plan
// and apply until the plan is empty, whose apply still records the clocks
// and the config.
func (s *session) converge(words []string) (string, error) {
	co := assembler.ConvergeOptions{Foreman: foreman.Options{GracePeriod: 24 * time.Hour, Limitations: s.limits}}
	var rest []string
	for _, w := range words {
		switch {
		case strings.HasPrefix(w, "max="):
			n, err := strconv.Atoi(strings.TrimPrefix(w, "max="))
			if err != nil || n < 1 {
				return "", fmt.Errorf("%s: want a positive number", w)
			}
			co.MaxRounds = n
		case strings.HasPrefix(w, "free="):
			co.FixedSpace = true
			rest = append(rest, w)
		case strings.HasPrefix(w, "now="), w == "json", w == "summary":
			return "", fmt.Errorf("converge takes no %s", w)
		default:
			rest = append(rest, w)
		}
	}
	if _, _, err := planOptions(rest, &co.Foreman); err != nil {
		return "", err
	}
	var summaries []string
	co.OnPlan = func(round int, p *remodel.Plan) {
		var b strings.Builder
		if err := remodel.RenderText(&b, p); err != nil {
			summaries = append(summaries, err.Error())
			return
		}
		summaries = append(summaries, summaryOf(b.String()))
	}
	a, done, err := s.assembler()
	if err != nil {
		return "", err
	}
	res, err := a.Converge(context.Background(), s.bp, co)
	var b strings.Builder
	for i, sum := range summaries {
		fmt.Fprintf(&b, "round %d: %s\n", i+1, sum)
		if res != nil && i < len(res.Reports) {
			b.WriteString(indent(results(res.Reports[i])))
		}
	}
	b.WriteString(done())
	if err != nil {
		b.WriteString("converge: " + remodel.ShortenDigests(err.Error()) + "\n")
	}
	return b.String(), nil
}

// summaryOf is a rendered plan's last line ("Plan: ...").
func summaryOf(text string) string {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	return lines[len(lines)-1]
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}

// assembler is the real executor over the device, armed to crash it at
// the journal write crash-at named; done says whether it did.
func (s *session) assembler() (a *assembler.Assembler, done func() string, err error) {
	crashAt, writes := s.crashAt, 0
	s.crashAt = 0
	opts := s.dev.Options()
	opts.Logger, opts.Clock = zap.NewNop(), func() time.Time { return s.now }
	opts.Retry = assembler.RetryPolicy{Attempts: 1}
	opts.AfterJournalWrite = func(int) {
		writes++
		if writes == crashAt {
			s.dev.Crash()
		}
	}
	a, err = assembler.New(opts)
	return a, func() string {
		switch {
		case crashAt > 0 && writes >= crashAt:
			return fmt.Sprintf("crashed after journal write %d\n", crashAt)
		case crashAt > 0:
			return fmt.Sprintf("no crash: %d journal writes\n", writes)
		}
		return ""
	}, err
}

// apply runs the real executor on the device with the last plan.
func (s *session) apply() (string, error) {
	if s.plan == nil {
		return "", errors.New("no plan to apply")
	}
	a, done, err := s.assembler()
	if err != nil {
		return "", err
	}
	rep, err := a.Apply(context.Background(), s.plan, assembler.WithBlueprint(s.bp))
	var b strings.Builder
	if rep != nil {
		b.WriteString(results(rep))
	}
	b.WriteString(done())
	if err != nil {
		b.WriteString("apply: " + remodel.ShortenDigests(err.Error()) + "\n")
	}
	return b.String(), nil
}

// results is one line per remodel of a report: status, id, and the
// error or reason.
func results(rep *assembler.Report) string {
	var b strings.Builder
	for _, r := range rep.Results {
		line := string(r.Status) + " " + string(r.RemodelID)
		switch {
		case r.Error != "":
			line += ": " + r.Error
		case r.Reason != "":
			line += ": " + r.Reason
		}
		b.WriteString(remodel.ShortenDigests(line) + "\n")
	}
	return b.String()
}

// survey renders the device's Floorplan, compact: what a person checks
// between steps.
func (s *session) survey() (string, error) {
	fp, err := s.dev.Survey(context.Background(), nil)
	if err != nil {
		if errors.Is(err, sim.ErrCrashed) {
			return "crashed (reboot first)\n", nil
		}
		return "", err
	}
	var b strings.Builder
	line := func(format string, args ...any) {
		b.WriteString(remodel.ShortenDigests(fmt.Sprintf(format, args...)) + "\n")
	}
	line("volumes:")
	for _, v := range fp.Volumes {
		l := fmt.Sprintf("  %s %s vsize=%s", v.Path, v.State, remodel.Bytes(v.VirtualSize))
		if v.Reason != "" {
			l += " (" + v.Reason + ")"
		}
		line("%s", l)
		for _, bl := range v.Backing {
			l := "    backing " + bl.Name
			if bl.Missing {
				l += " (missing)"
			}
			line("%s", l)
		}
		for _, sn := range v.Snapshots {
			l := "    snapshot " + sn.Name + " taken " + sn.Created.UTC().Format(time.RFC3339)
			if sn.Path != "" {
				l += " at " + sn.Path
			}
			line("%s", l)
		}
	}
	line("blobs:")
	for _, bl := range fp.Blobs {
		l := fmt.Sprintf("  %s %s", bl.Digest, bl.State)
		if bl.State == materials.StatePartial {
			l += " at " + remodel.Bytes(bl.Offset)
		} else {
			l += " " + remodel.Bytes(bl.Size)
		}
		if bl.Store == materials.BlobStoreContainerd {
			l += " in containerd"
		}
		line("%s", l)
	}
	if len(fp.Images) > 0 {
		line("images:")
		for _, im := range fp.Images {
			line("  %s → %s", im.Name, im.Target)
		}
	}
	j := fp.Journal
	line("journal:")
	if j != nil {
		for _, in := range j.InFlight {
			line("  in flight %s since %s", in.RemodelID, in.StartedAt.UTC().Format(time.RFC3339))
		}
		for _, l := range j.Latches {
			line("  latch %s#%d %s → %s", l.ContentTree, l.Generation, l.URL, l.Digest)
		}
		for _, u := range j.Unreferenced {
			line("  unreferenced %s since %s", u.Target, u.Since.UTC().Format(time.RFC3339))
		}
		if j.LastApplied != nil {
			var vols []string
			for _, v := range j.LastApplied.Volumes {
				vols = append(vols, v.Key().String())
			}
			sort.Strings(vols)
			line("  last applied: %d trees, volumes [%s]", len(j.LastApplied.ContentTrees), strings.Join(vols, " "))
			for _, a := range j.LastApplied.Apps {
				if a.RollbackCounter > 0 || a.ActiveSnapshot != "" {
					line("  last applied app %s: rollback counter %d, active snapshot %q", a.ID, a.RollbackCounter, a.ActiveSnapshot)
				}
			}
		}
		for _, l := range j.Lineage {
			line("  lineage %s of %s (%s) taken %s, %s, config version %q", materials.SnapshotRefID(l.App, l.Snapshot), l.Volume, l.Format,
				l.Taken.UTC().Format(time.RFC3339), l.Type, l.ConfigVersion)
		}
	}
	line("downloaded %s", remodel.Bytes(s.dev.Downloaded()))
	return b.String(), nil
}

var (
	shortVolume = regexp.MustCompile(`(^|[ /=,])v([0-9]{1,4})([#. ,]|$)`)
	longVolume  = regexp.MustCompile(`00000000-0000-4000-8000-0{8}([0-9]{4})`)
)

// longVolumeIDs writes a session's short volume ids vN as the UUIDs the
// device names its files by.
func longVolumeIDs(line string) string {
	// Twice: adjacent matches share their separators.
	for range 2 {
		line = shortVolume.ReplaceAllStringFunc(line, func(m string) string {
			p := shortVolume.FindStringSubmatch(m)
			n, _ := strconv.Atoi(p[2])
			return fmt.Sprintf("%s00000000-0000-4000-8000-%012d%s", p[1], n, p[3])
		})
	}
	return line
}

// shortVolumeIDs writes those UUIDs back as vN.
func shortVolumeIDs(out string) string {
	return longVolume.ReplaceAllStringFunc(out, func(m string) string {
		n, _ := strconv.Atoi(longVolume.FindStringSubmatch(m)[1])
		return "v" + strconv.Itoa(n)
	})
}

func TestSessionVolumeIDs(t *testing.T) {
	for _, tc := range []struct{ in, long string }{
		{"vol v1#2 ct=c1", "vol 00000000-0000-4000-8000-000000000001#2 ct=c1"},
		{"file vault/v12#0.qcow2 vsize=2G", "file vault/00000000-0000-4000-8000-000000000012#0.qcow2 vsize=2G"},
		{"protect volume v3", "protect volume 00000000-0000-4000-8000-000000000003"},
		{"tree c1 url=library/nginx:v1 ds=v1,v2", "tree c1 url=library/nginx:v1 ds=00000000-0000-4000-8000-000000000001,00000000-0000-4000-8000-000000000002"},
		{"vol av1#0 apps=v1app", "vol av1#0 apps=v1app"},
	} {
		if got := longVolumeIDs(tc.in); got != tc.long {
			t.Errorf("longVolumeIDs(%q) = %q, want %q", tc.in, got, tc.long)
		}
		if got := shortVolumeIDs(tc.long); got != tc.in {
			t.Errorf("shortVolumeIDs(%q) = %q, want %q", tc.long, got, tc.in)
		}
	}
}
