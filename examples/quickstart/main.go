// Command quickstart is edgewright's main job, end to end, on nothing but
// this machine: it generates a raw disk image, a qcow2 image and a small
// OCI image, serves them from loopback datastores (an HTTP server and an
// in-process OCI registry), and reconciles a sample controller config into
// a fresh root, printing each plan (in the style of `terraform plan`),
// progress and the result. Then it bumps one volume's generation and drops
// another, printing those plans and results, and ends with the status
// report the controller would get.
//
// Blobs go to containerd when a socket is given or found at containerd's
// default address, and to a blob directory under the root otherwise.
//
// With --serve it reconciles nothing: it serves the same content on
// loopback, writes configs that point at it (config.json, then
// config-next.json with a generation bumped and a volume dropped) and
// prints the `wright plan` and `wright apply` commands to run by hand,
// serving until interrupted.
//
//	go run ./examples/quickstart [--root DIR] [--containerd SOCKET] [--namespace NS] [--no-containerd]
//	go run ./examples/quickstart --serve [--dir DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/crafts"
	"github.com/edgewright/edgewright/assembler/ctrstore"
	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
	"github.com/edgewright/edgewright/reporter"
)

func main() {
	root := flag.String("root", "", "device root to reconcile (default: a fresh temporary directory, kept)")
	socket := flag.String("containerd", "", "store blobs in the containerd at `SOCKET` (default: "+ctrstore.DefaultSocket+" when it answers, else a blob directory)")
	ns := flag.String("namespace", "", "containerd `NAMESPACE` (default: a fresh one per run)")
	noCtr := flag.Bool("no-containerd", false, "use the blob directory even when containerd is found")
	doServe := flag.Bool("serve", false, "serve the content on loopback and write configs for wright plan/apply by hand, until Ctrl-C")
	dir := flag.String("dir", "", "with --serve: write the configs into `DIR` (default: a fresh temporary directory)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *dir != "" && !*doServe {
		fmt.Fprintln(os.Stderr, "quickstart: --dir goes with --serve (the main job's root is --root)")
		os.Exit(2)
	}
	if *doServe {
		if *root != "" || *socket != "" || *ns != "" {
			fmt.Fprintln(os.Stderr, "quickstart: --serve reconciles nothing: --root, --containerd and --namespace go to wright apply")
			os.Exit(2)
		}
		if err := serve(ctx, serveOptions{dir: *dir}, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "quickstart:", err)
			os.Exit(1)
		}
		return
	}
	if *socket == "" && !*noCtr && answers(ctrstore.DefaultSocket) {
		*socket = ctrstore.DefaultSocket
	}
	if *socket != "" && *ns == "" {
		*ns = fmt.Sprintf("edgewright-quickstart-%d", time.Now().Unix())
	}
	if err := run(ctx, options{root: *root, socket: *socket, namespace: *ns}, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

const (
	dsHTTP     = "1a2b3c4d-0000-4000-8000-000000000001"
	dsRegistry = "1a2b3c4d-0000-4000-8000-000000000002"
	treeRaw    = "2b3c4d5e-0000-4000-8000-000000000001"
	treeQcow2  = "2b3c4d5e-0000-4000-8000-000000000002"
	treeApp    = "2b3c4d5e-0000-4000-8000-000000000003"
	volRoot    = "3c4d5e6f-0000-4000-8000-000000000001"
	volData    = "3c4d5e6f-0000-4000-8000-000000000002"
	volAppFS   = "3c4d5e6f-0000-4000-8000-000000000003"
	volScratch = "3c4d5e6f-0000-4000-8000-000000000004"
	appID      = "4d5e6f70-0000-4000-8000-000000000001"
)

// config is the controller's config as proto-JSON, the way a real EVE
// controller sends it: datastores, content trees, volumes and an app that
// refers to them.
func config(c *content, dataGen int, withScratch bool) []byte {
	scratch, scratchRef := "", ""
	if withScratch {
		scratch = fmt.Sprintf(`,
    {"uuid": %q, "displayName": "scratch", "origin": {"type": "VCOT_BLANK"}, "generationCount": 1, "maxsizebytes": 33554432}`, volScratch)
		scratchRef = fmt.Sprintf(`, {"uuid": %q, "generationCount": 1}`, volScratch)
	}
	return fmt.Appendf(nil, `{
  "datastores": [
    {"id": %q, "dType": "DsHttp", "fqdn": %q, "dpath": "images"},
    {"id": %q, "dType": "DsContainerRegistry", "fqdn": "docker://%s"}
  ],
  "contentInfo": [
    {"uuid": %q, "displayName": "root-image", "dsId": %q, "URL": "disk.raw", "iformat": "RAW", "sha256": %q, "maxSizeBytes": %d},
    {"uuid": %q, "displayName": "data-image", "dsId": %q, "URL": "disk.qcow2", "iformat": "QCOW2", "sha256": %q, "maxSizeBytes": %d},
    {"uuid": %q, "displayName": "app-image", "dsId": %q, "URL": %q, "iformat": "CONTAINER"}
  ],
  "volumes": [
    {"uuid": %q, "displayName": "root", "origin": {"type": "VCOT_DOWNLOAD", "downloadContentTreeID": %q}, "generationCount": 1, "maxsizebytes": 33554432},
    {"uuid": %q, "displayName": "data", "origin": {"type": "VCOT_DOWNLOAD", "downloadContentTreeID": %q}, "generationCount": %d, "maxsizebytes": 16777216},
    {"uuid": %q, "displayName": "app-fs", "origin": {"type": "VCOT_DOWNLOAD", "downloadContentTreeID": %q}, "generationCount": 1}%s
  ],
  "apps": [{"uuidandversion": {"uuid": %q, "version": "1"}, "displayname": "quickstart-app",
    "volumeRefList": [{"uuid": %q, "generationCount": 1}, {"uuid": %q, "generationCount": %d}, {"uuid": %q, "generationCount": 1}%s]}]
}`, dsHTTP, c.httpURL, dsRegistry, c.registryHost,
		treeRaw, dsHTTP, c.rawSHA, len(c.raw), treeQcow2, dsHTTP, c.qcow2SHA, len(c.qcow2), treeApp, dsRegistry, c.image,
		volRoot, treeRaw, volData, treeQcow2, dataGen, volAppFS, treeApp, scratch,
		appID, volRoot, volData, dataGen, volAppFS, scratchRef)
}

type options struct {
	root string
	// socket and namespace, when socket is set, put the blobs in
	// containerd.
	socket, namespace string
}

// answers reports whether a unix socket accepts a connection.
func answers(socket string) bool {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func run(ctx context.Context, o options, out io.Writer) error {
	start := time.Now()
	root := o.root
	work, err := os.MkdirTemp("", "edgewright-quickstart-content-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if root == "" {
		if root, err = os.MkdirTemp("", "edgewright-quickstart-root-"); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "edgewright quickstart: reconciling into %s\n", root)
	c, err := makeContent(work)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(out, "content: HTTP datastore %s (raw %d MiB, qcow2 %d KiB), OCI registry %s (%s)\n\n",
		c.httpURL, len(c.raw)>>20, len(c.qcow2)>>10, c.registryHost, c.image)

	log := zap.NewNop()
	copts := crafts.Options{Logger: log}
	if o.socket != "" {
		copts.Containerd = &ctrstore.Options{Socket: o.socket, Namespace: o.namespace}
	}
	set, err := crafts.Open(ctx, root, copts)
	if err != nil {
		return err
	}
	defer set.Close()
	var survey inspector.Options
	if set.Containerd != nil {
		survey.Containerd = set.Containerd
		fmt.Fprintf(out, "blobs: containerd at %s, namespace %s\n\n", o.socket, o.namespace)
	} else {
		fmt.Fprintf(out, "blobs: the blob directory under the root (no containerd)\n\n")
	}
	prog := &progressLines{out: out}
	a, err := assembler.New(assembler.Options{Root: root, Logger: log, Crafts: set.Crafts, Progress: prog.event})
	if err != nil {
		return err
	}
	steps := []struct {
		title string
		cfg   []byte
	}{
		{"1. the first config: two VM volumes, a container volume and a blank one", config(c, 1, true)},
		{"2. the controller bumps the data volume's generation and drops the scratch volume", config(c, 2, false)},
	}
	for _, s := range steps {
		fmt.Fprintf(out, "== %s\n", s.title)
		bp := architect.Load(s.cfg)
		if !bp.Valid() {
			return fmt.Errorf("the sample config does not draw: %v", bp.Diagnostics)
		}
		res, err := a.Converge(ctx, bp, assembler.ConvergeOptions{OnPlan: func(round int, p *remodel.Plan) {
			prog.flush()
			fmt.Fprintf(out, "-- round %d plan:\n", round)
			remodel.RenderText(out, p)
		}})
		prog.flush()
		if res != nil {
			for _, f := range res.Failed {
				fmt.Fprintf(out, "   failed %s: %s\n", f.RemodelID, f.Error)
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.title, err)
		}
		printResult(out, res)
		if !res.Converged {
			return fmt.Errorf("%s: not converged (%d held)", s.title, len(res.Plan.Held))
		}
	}
	fmt.Fprintln(out, "== what the controller hears (wright status):")
	survey.Root = root
	if err := status(ctx, survey, steps[len(steps)-1].cfg, out); err != nil {
		return err
	}
	fmt.Fprintf(out, "\ndone in %s; the root is %s\n", time.Since(start).Round(time.Millisecond), root)
	return nil
}

func printResult(out io.Writer, res *assembler.ConvergeResult) {
	done, failed, skipped := 0, 0, 0
	for _, r := range res.Reports {
		done += r.Done
		failed += r.Failed
		skipped += r.Skipped
	}
	fmt.Fprintf(out, "-- result: converged in %d rounds: %d remodels done, %d failed, %d skipped\n\n", res.Rounds, done, failed, skipped)
}

func status(ctx context.Context, so inspector.Options, cfg []byte, out io.Writer) error {
	root := so.Root
	j, err := journal.OpenRoot(root, journal.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer j.Close()
	so.Journal = j
	fp, err := inspector.Survey(ctx, so)
	if err != nil {
		return err
	}
	rep := reporter.Build(reporter.Inputs{Blueprint: architect.Load(cfg), Floorplan: fp})
	if err := rep.WriteTable(out); err != nil {
		return err
	}
	var files []string
	filepath.WalkDir(layout.VolumesDir(root, false), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Dir(p) == layout.VolumesDir(root, false) {
			files = append(files, filepath.Base(p))
		}
		if err == nil && d.IsDir() && filepath.Ext(p) == ".container" {
			files = append(files, filepath.Base(p)+"/")
			return filepath.SkipDir
		}
		return nil
	})
	sort.Strings(files)
	fmt.Fprintln(out, "\nvolumes on disk under persist/vault/volumes:")
	for _, f := range files {
		fmt.Fprintln(out, "  "+f)
	}
	return nil
}

// progressLines prints a line per material when it passes each quarter,
// and when it is done.
type progressLines struct {
	out  io.Writer
	mu   sync.Mutex
	last map[string]int64
}

func (p *progressLines) event(e assembler.Event) {
	if e.Kind == materials.KindContentTree || e.Known <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = map[string]int64{}
	}
	k := string(e.Kind) + " " + e.ID
	q := e.Done * 4 / e.Known
	if old, ok := p.last[k]; ok && old >= q {
		return
	}
	p.last[k] = q
	fmt.Fprintf(p.out, "   progress %s %s: %s of %s (%d%%)\n", e.Kind, remodel.ShortenDigests(e.ID), size(e.Done), size(e.Known), e.Done*100/e.Known)
}

func (p *progressLines) flush() {
	p.mu.Lock()
	p.last = nil
	p.mu.Unlock()
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
