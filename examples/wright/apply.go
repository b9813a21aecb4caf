package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/crafts"
	"github.com/edgewright/edgewright/assembler/crafts/containerd"
	"github.com/edgewright/edgewright/assembler/crafts/s3fetch"
	"github.com/edgewright/edgewright/assembler/crafts/sftpfetch"
	"github.com/edgewright/edgewright/assembler/ctrstore"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

func init() {
	commands["apply"] = command{
		summary: "survey, plan and apply until the root matches the config",
		run:     runApply,
	}
}

// applyFlags are apply's flags.
type applyFlags struct {
	fs                                                  *flag.FlagSet
	config, root, logFormat, ctrSocket, ctrNS, ctrDir   *string
	s3Lookup                                            *string
	asJSON, allowMass, cleanUp, wait, verbose, keepPriv *bool
	sftpInsecure                                        *bool
	grace                                               *time.Duration
	share                                               *float64
	rounds                                              *int
	strategy                                            *materials.Strategy
}

func addApplyFlags(fs *flag.FlagSet) *applyFlags {
	return &applyFlags{fs: fs,
		config:       fs.String("config", "", "controller config `FILE` (binary protobuf or proto-JSON; - for stdin)"),
		root:         fs.String("root", "", "device root `DIR` to change"),
		asJSON:       fs.Bool("json", false, "print the result (last plan, every report) as JSON"),
		grace:        fs.Duration("grace", foreman.DefaultGracePeriod, "keep unneeded blobs this long after their last reference went away"),
		share:        fs.Float64("mass-delete-share", foreman.DefaultMassDeleteShare, "hold the volume deletes of a plan that deletes more than this share of volumes"),
		allowMass:    fs.Bool("allow-mass-delete", false, "let a mass delete through"),
		cleanUp:      fs.Bool("cleanup", false, "delete unknown and broken files instead of only reporting them"),
		strategy:     strategyFlag(fs),
		rounds:       fs.Int("max-rounds", 8, "give up after this many survey/plan/apply rounds"),
		wait:         fs.Bool("wait", false, "wait for another assembler on the root instead of refusing"),
		verbose:      fs.Bool("v", false, "debug log on stderr: every remodel, with stack traces on warnings"),
		logFormat:    fs.String("log-format", "text", "log `FORMAT` on stderr: text (one line a warning) or json"),
		ctrSocket:    fs.String("containerd", "", "store blobs in the containerd at `SOCKET` (default: the blob directory under the root)"),
		ctrNS:        fs.String("namespace", defaultNamespace, "containerd `NAMESPACE` (with --containerd)"),
		keepPriv:     fs.Bool("keep-privileges", false, "let container volumes keep setuid/setgid bits, device nodes and file capabilities from their layers"),
		ctrDir:       fs.String("containerd-content", containerd.DefaultContentDir, "containerd's content `DIR`, read directly for raw and qcow2 volumes when there (with --containerd); when given, --strategy space overlays are backed by its blobs"),
		sftpInsecure: fs.Bool("sftp-insecure-host-key", false, "accept any host key from an SFTP datastore whose dsCertPEM pins none (a pin is always enforced)"),
		s3Lookup:     fs.String("s3-bucket-lookup", "auto", "where S3 requests name the bucket: `auto` (in the host for AWS-like endpoints, else in the path), path or virtual-host"),
	}
}

// runApply loops survey → plan → apply until the plan is empty or only
// held remodels remain. Exit 0 when converged, 3 when held remodels
// remain, 1 on failure, 2 on bad usage (exitCodeDoc).
func runApply(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("apply", "wright apply --config FILE --root DIR [--containerd SOCKET [--namespace NS]] [--json] [--wait] [-v] [--log-format text|json]", stdout, stderr)
	af := addApplyFlags(fs)
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	lookup, ok := af.valid(stderr)
	if !ok {
		return exitUsage
	}
	bp, ok := loadApplyConfig(*af.config, stderr)
	if !ok {
		return exitFailed
	}
	log, err := newLogger(*af.logFormat, *af.verbose, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wright apply: %v\n", err)
		return exitUsage
	}
	defer log.Sync()

	// Progress goes to stderr so --json output stays clean: bars on a
	// terminal, plain lines otherwise.
	bars := newProgressView(stderr, isTerminal(stderr))
	defer bars.stop()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, closeCrafts, err := af.open(ctx, log, lookup, bars)
	if err != nil {
		fmt.Fprintf(stderr, "wright apply: %v\n", err)
		return exitFailed
	}
	defer closeCrafts()
	res, err := af.converge(ctx, a, bp, bars, stdout)
	bars.stop()
	if *af.asJSON {
		if werr := printApplyJSON(stdout, res, err); werr != nil {
			fmt.Fprintf(stderr, "wright apply: write: %v\n", werr)
			return exitFailed
		}
	} else if res != nil {
		printApply(stdout, res)
	}
	return applyVerdict(stdout, stderr, res, err, *af.asJSON)
}

// valid checks the usage; the S3 bucket lookup it names, or false (said
// on stderr).
func (af *applyFlags) valid(stderr io.Writer) (s3fetch.Lookup, bool) {
	if *af.config == "" || *af.root == "" || af.fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: wright apply --config FILE --root DIR [--containerd SOCKET [--namespace NS]] [--json] [--wait]")
		return 0, false
	}
	lookup, ok := s3Lookups[*af.s3Lookup]
	if !ok {
		fmt.Fprintf(stderr, "wright apply: --s3-bucket-lookup %q: want auto, path or virtual-host\n", *af.s3Lookup)
		return 0, false
	}
	if flagSet(af.fs, "namespace") && *af.ctrSocket == "" {
		fmt.Fprintln(stderr, "wright apply: --namespace needs --containerd SOCKET")
		return 0, false
	}
	return lookup, true
}

// loadApplyConfig reads and draws the config; false (said on stderr)
// when it cannot be read in full.
func loadApplyConfig(config string, stderr io.Writer) (*materials.Blueprint, bool) {
	data, err := readConfig(config)
	if err != nil {
		fmt.Fprintf(stderr, "wright apply: read config: %v\n", err)
		return nil, false
	}
	bp := architect.Load(data)
	for _, d := range bp.Diagnostics {
		fmt.Fprintf(stderr, "%s: %s\n", config, d)
	}
	if !bp.Complete {
		fmt.Fprintf(stderr, "wright apply: %s: the config could not be read in full; nothing applied\n", config)
		return nil, false
	}
	return bp, true
}

// open wires the crafts and the assembler. HTTP(S) datastores, the blob
// directory and qemu-img volumes are the defaults; container registries
// and container volumes come from the OCI crafts, SFTP and S3 datastores
// from sftpfetch and s3fetch (with this command's host-key and
// bucket-lookup flags). The func it returns closes the crafts.
func (af *applyFlags) open(ctx context.Context, log *zap.Logger, lookup s3fetch.Lookup, bars *progressView) (*assembler.Assembler, func(), error) {
	copts := crafts.Options{Logger: log, KeepPrivileges: *af.keepPriv, ContainerdContentDir: *af.ctrDir,
		Fetchers: map[materials.DatastoreType]device.Fetcher{
			materials.DatastoreSFTP: &sftpfetch.Fetcher{Logger: log, InsecureIgnoreHostKey: *af.sftpInsecure},
			materials.DatastoreS3:   &s3fetch.Fetcher{Logger: log, BucketLookup: lookup},
		}}
	if *af.ctrSocket != "" {
		// Blobs go to containerd; the survey reads the same namespace.
		copts.Containerd = &ctrstore.Options{Socket: *af.ctrSocket, Namespace: *af.ctrNS}
	}
	set, err := crafts.Open(ctx, *af.root, copts)
	if err != nil {
		return nil, nil, fmt.Errorf("--containerd %s --namespace %s: %w", *af.ctrSocket, *af.ctrNS, err)
	}
	aopts := assembler.Options{
		Root: *af.root, Logger: log, WaitForLock: *af.wait, Progress: bars.event,
		Crafts: set.Crafts, AfterJournalWrite: crashHook(),
	}
	if *af.ctrSocket != "" && flagSet(af.fs, "containerd-content") {
		// Said, not defaulted: space overlays may then be backed by its
		// blobs, and the survey follows them there.
		aopts.ContainerdContentDir = *af.ctrDir
	}
	a, err := assembler.New(aopts)
	if err != nil {
		set.Close()
		return nil, nil, err
	}
	return a, func() { set.Close() }, nil
}

// converge runs the rounds, printing each round's plan unless --json.
func (af *applyFlags) converge(ctx context.Context, a *assembler.Assembler, bp *materials.Blueprint, bars *progressView, stdout io.Writer) (*assembler.ConvergeResult, error) {
	return a.Converge(ctx, bp, assembler.ConvergeOptions{
		Foreman: foreman.Options{
			GracePeriod: *af.grace, MassDeleteShare: *af.share, AllowMassDelete: *af.allowMass, CleanUp: *af.cleanUp,
			Strategy: *af.strategy,
		},
		MaxRounds: *af.rounds,
		OnPlan: func(round int, p *remodel.Plan) {
			if !*af.asJSON {
				printRound(bars, stdout, round, p)
			}
		},
	})
}

// printApplyJSON prints the result (an empty one when there is none)
// and the error.
func printApplyJSON(w io.Writer, res *assembler.ConvergeResult, err error) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	out := struct {
		*assembler.ConvergeResult
		Error string `json:"error,omitempty"`
	}{res, errText(err)}
	if res == nil {
		out.ConvergeResult = &assembler.ConvergeResult{}
	}
	return enc.Encode(out)
}

// applyVerdict says how the apply ended and gives its exit code.
func applyVerdict(stdout, stderr io.Writer, res *assembler.ConvergeResult, err error, asJSON bool) int {
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "wright apply: %v\n", err)
		if errors.Is(err, assembler.ErrRootLocked) {
			fmt.Fprintln(stderr, "wright apply: another assembler holds the root; use --wait to wait for it")
		}
		return exitFailed
	case res.Held():
		if !asJSON {
			fmt.Fprintf(stdout, "converged except %d held remodels:\n", len(res.Plan.Held))
			for _, h := range res.Plan.Held {
				fmt.Fprintf(stdout, "  held %s %s: %s\n", h.Action, h.Target, h.Reason)
			}
		}
		return exitHeld
	}
	if !asJSON {
		fmt.Fprintf(stdout, "converged (rounds: %d)\n", res.Rounds)
	}
	return exitOK
}

var s3Lookups = map[string]s3fetch.Lookup{"auto": s3fetch.LookupAuto, "path": s3fetch.LookupPath, "virtual-host": s3fetch.LookupVirtualHost}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// printRound prints a round's plan summary with the bytes it fetches, and
// each download whose datastore offers a chunk index with what it fetches
// of the blob.
func printRound(bars *progressView, w io.Writer, round int, p *remodel.Plan) {
	line := fmt.Sprintf("round %d: %s", round, p.Summary.Text)
	if n := p.Summary.BytesToDownload; n > 0 {
		line += " " + remodel.Bytes(n) + " to download."
	}
	bars.println(w, line)
	for i := range p.Remodels {
		r := &p.Remodels[i]
		if pl, ok := remodel.PayloadOf[*remodel.DownloadPayload](r); ok && pl.Offer != nil {
			bars.println(w, remodel.ShortenDigests(fmt.Sprintf("  ↓ download %s: %s", r.Target, remodel.OfferText(pl.Offer))))
		}
	}
}

func printApply(w io.Writer, res *assembler.ConvergeResult) {
	for i, rep := range res.Reports {
		fmt.Fprintf(w, "apply %d: %d done, %d failed, %d skipped, %s fetched\n", i+1, rep.Done, rep.Failed, rep.Skipped, remodel.Bytes(rep.Bytes))
		for _, r := range rep.Results {
			switch r.Status {
			case assembler.StatusDone:
				note := ""
				if r.Reason != "" {
					note = " (" + r.Reason + ")"
				}
				fmt.Fprintf(w, "  done    %s%s\n", r.RemodelID, note)
			case assembler.StatusFailed:
				fmt.Fprintf(w, "  FAILED  %s: %s\n", r.RemodelID, r.Error)
			case assembler.StatusSkipped:
				fmt.Fprintf(w, "  skipped %s: %s\n", r.RemodelID, r.Reason)
			}
		}
	}
}

// isTerminal reports whether w is a terminal (TCGETS succeeds).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// crashHook is fault injection for crash tests: EDGEWRIGHT_CRASH_AT=N
// SIGKILLs this process right after the Nth durable journal write.
func crashHook() func(int) {
	var at int
	if _, err := fmt.Sscanf(os.Getenv("EDGEWRIGHT_CRASH_AT"), "%d", &at); err != nil || at <= 0 {
		return nil
	}
	return func(n int) {
		if n == at {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}

// progressView shows progress events: redrawn bars on a terminal, a line
// per tenth otherwise.
type progressView struct {
	w       io.Writer
	tty     bool
	mu      sync.Mutex
	items   map[string]assembler.Event
	order   []string
	tenths  map[string]int64
	drawn   int
	done    chan struct{}
	stopped bool
}

func newProgressView(w io.Writer, tty bool) *progressView {
	p := &progressView{w: w, tty: tty, items: map[string]assembler.Event{}, tenths: map[string]int64{}, done: make(chan struct{})}
	if tty {
		go func() {
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					p.mu.Lock()
					p.redraw()
					p.mu.Unlock()
				case <-p.done:
					return
				}
			}
		}()
	}
	return p
}

func label(e assembler.Event) string {
	id := e.ID
	if e.Kind == "blob" && len(id) > 19 {
		id = id[:19] // sha256: and 12 hex digits
	}
	return string(e.Kind) + " " + id
}

func (p *progressView) event(e assembler.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := string(e.Kind) + " " + e.ID
	if _, ok := p.items[key]; !ok {
		p.order = append(p.order, key)
	}
	p.items[key] = e
	if p.tty || p.stopped {
		return
	}
	tenth := int64(-1)
	if e.Known > 0 {
		tenth = e.Done * 10 / e.Known
	}
	if last, ok := p.tenths[key]; ok && last == tenth {
		return
	}
	p.tenths[key] = tenth
	if e.Known > 0 {
		fmt.Fprintf(p.w, "progress %s %s / %s (%d%%)%s\n", label(e), remodel.Bytes(e.Done), remodel.Bytes(e.Known), e.Done*100/e.Known, fetched(e))
	} else {
		fmt.Fprintf(p.w, "progress %s %s%s\n", label(e), remodel.Bytes(e.Done), fetched(e))
	}
}

// fetched says what a chunked download brought over the network: written
// bytes come mostly from local seeds.
func fetched(e assembler.Event) string {
	if e.ToFetch <= 0 {
		return ""
	}
	return ", fetched " + remodel.Bytes(e.Fetched) + " of " + remodel.Bytes(e.ToFetch)
}

// redraw rewrites the bars in place. p.mu is held.
func (p *progressView) redraw() {
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.drawn)
	}
	keys := append([]string(nil), p.order...)
	sort.Strings(keys)
	for _, k := range keys {
		e := p.items[k]
		const width = 30
		fill, pct := 0, ""
		if e.Known > 0 {
			fill = int(e.Done * width / e.Known)
			pct = fmt.Sprintf("%3d%%", e.Done*100/e.Known)
		}
		fill = min(fill, width)
		fmt.Fprintf(p.w, "\x1b[2K%-50s [%s%s] %s %s%s\n", label(e), strings.Repeat("#", fill), strings.Repeat(".", width-fill), pct, remodel.Bytes(e.Done), fetched(e))
	}
	p.drawn = len(keys)
}

// println prints a line above the bars.
func (p *progressView) println(w io.Writer, s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn > 0 {
		p.redraw()
		p.drawn = 0 // the bars scroll up with the line below them
		p.order, p.items = nil, map[string]assembler.Event{}
	}
	fmt.Fprintln(w, s)
}

func (p *progressView) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	close(p.done)
	if p.tty {
		p.redraw()
	}
}

// flagSet reports whether the flag named name was given on the command
// line (not just defaulted).
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
