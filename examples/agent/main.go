// Command agent is an edge-agent loop built on edgewright: it watches a
// controller config file, reconciles the device root whenever the config
// changes (and again every interval, since reconciling is level-triggered),
// and publishes EVE info messages as proto-JSON lines on stdout: during an
// apply, every state or progress change of a volume, content tree or blob;
// after it, the volume metrics.
//
//	go run ./examples/agent --config FILE --root DIR [--interval 30s] [--once]
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/crafts"
	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/reporter"
)

func main() {
	fs := flag.NewFlagSet("agent", flag.ExitOnError)
	o := options{}
	fs.StringVar(&o.config, "config", "", "controller config `FILE` to watch (binary protobuf or proto-JSON)")
	fs.StringVar(&o.root, "root", "", "device root `DIR`")
	fs.StringVar(&o.device, "device", "", "device uuid for the message envelopes")
	fs.DurationVar(&o.interval, "interval", 30*time.Second, "how often to look at the config and reconcile again")
	fs.BoolVar(&o.once, "once", false, "reconcile once, publish, and exit")
	fs.Parse(os.Args[1:])
	if o.config == "" || o.root == "" {
		fmt.Fprintln(os.Stderr, "usage: agent --config FILE --root DIR [--interval 30s] [--once]")
		os.Exit(2)
	}
	log, err := zap.NewProduction()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer log.Sync()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout, log); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("agent stopped", zap.Error(err))
		os.Exit(1)
	}
}

type options struct {
	config, root, device string
	interval             time.Duration
	once                 bool
}

// agent is the loop's state: what it last reconciled and what it last
// published.
type agent struct {
	o   options
	out io.Writer
	log *zap.Logger
	a   *assembler.Assembler

	mu  sync.Mutex // guards what publish reads and writes
	pub *reporter.Publisher
	tr  *reporter.Tracker
	bp  *materials.Blueprint
	fp  *materials.Floorplan
}

// run reconciles until ctx ends (or once). A config that fails to decode
// is reported and waited out: the loop never acts on a Blueprint that is
// not complete, and the last good one stays in force.
func run(ctx context.Context, o options, out io.Writer, log *zap.Logger) error {
	ag := &agent{o: o, out: out, log: log, pub: reporter.NewPublisher(), tr: reporter.NewTracker()}
	ag.tr.OnChange = ag.publishInfo
	set, err := crafts.Open(ctx, o.root, crafts.Options{Logger: log})
	if err != nil {
		return err
	}
	defer set.Close()
	a, err := assembler.New(assembler.Options{Root: o.root, Logger: log, Crafts: set.Crafts,
		Progress: ag.tr.OnProgress, OnRemodel: ag.tr.OnRemodel, WaitForLock: true})
	if err != nil {
		return err
	}
	ag.a = a
	var lastSum [32]byte
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for {
		data, err := os.ReadFile(o.config)
		switch {
		case err != nil:
			log.Warn("config not read; keeping the last one", zap.String("config", o.config), zap.Error(err))
		default:
			sum := sha256.Sum256(data)
			bp := architect.Load(data)
			for _, d := range bp.Diagnostics {
				if sum != lastSum {
					log.Warn("config diagnostic", zap.String("path", d.Path), zap.String("value", d.Value), zap.String("message", d.Message), zap.String("severity", string(d.Severity)))
				}
			}
			lastSum = sum
			if !bp.Complete {
				log.Warn("config incomplete; nothing reconciled", zap.String("config", o.config))
				break
			}
			ag.mu.Lock()
			ag.bp = bp
			ag.mu.Unlock()
			if err := ag.reconcile(ctx); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				log.Warn("reconcile", zap.Error(err))
			}
		}
		if o.once {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (ag *agent) reconcile(ctx context.Context) error {
	ag.mu.Lock()
	bp := ag.bp
	ag.mu.Unlock()
	res, err := ag.a.Converge(ctx, bp, assembler.ConvergeOptions{OnSurvey: func(_ int, fp *materials.Floorplan) {
		ag.mu.Lock()
		ag.fp = fp
		ag.mu.Unlock()
		ag.publishInfo()
	}})
	if res != nil && res.Held() {
		for _, h := range res.Plan.Held {
			ag.log.Info("held", zap.Stringer("remodel", h.RemodelID), zap.String("reason", h.Reason))
		}
	}
	// A survey after the apply settles what the tracker saw; the journal
	// (free again now) adds usage history.
	so := inspector.Options{Root: ag.o.root}
	if j, jerr := journal.OpenRoot(ag.o.root, journal.Options{ReadOnly: true, Timeout: time.Second}); jerr == nil {
		defer j.Close()
		so.Journal = j
	}
	fp, serr := inspector.Survey(ctx, so)
	if serr == nil {
		ag.mu.Lock()
		ag.fp = fp
		ag.tr.Reset() // the disk now says it all
		ag.mu.Unlock()
		ag.publishInfo()
		ag.publishMetrics()
	}
	return errors.Join(err, serr)
}

// publishInfo writes what changed since the last publication.
func (ag *agent) publishInfo() {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	if ag.bp == nil {
		return
	}
	delta, _ := ag.pub.Changed(reporter.Build(reporter.Inputs{Blueprint: ag.bp, Floorplan: ag.fp, Live: ag.tr}))
	delta.Metrics = nil // metrics go out after each reconcile, not per change
	var buf bytes.Buffer
	for _, m := range delta.InfoMessages(ag.o.device, time.Now()) {
		if err := reporter.WriteJSONLines(&buf, m); err != nil {
			ag.log.Error("encode info", zap.Error(err))
			return
		}
	}
	ag.out.Write(buf.Bytes())
}

func (ag *agent) publishMetrics() {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	r := reporter.Build(reporter.Inputs{Blueprint: ag.bp, Floorplan: ag.fp})
	if err := reporter.WriteJSONLines(ag.out, r.MetricMessage(ag.o.device, time.Now())); err != nil {
		ag.log.Error("encode metrics", zap.Error(err))
	}
}
