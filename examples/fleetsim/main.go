// Command fleetsim simulates what a config and a rollout do to a fleet
// before they ship: N in-memory devices reconciled by edgewright's real
// architect, foreman and executor (package fleet), first from empty, then
// after the rollout. It prints a table for people or, with --json, the
// summary for programs.
//
//	go run ./examples/fleetsim --devices 10000 --volumes 50 --json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/edgewright/edgewright/fleet"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// Summary is the --json output: the whole simulation's figures at the
// top, each phase's report below.
type Summary struct {
	Devices                int                      `json:"devices"`
	Reconciles             int                      `json:"reconciles"`
	ReconcilesPerCPUSecond float64                  `json:"reconcilesPerCpuSecond"`
	PeakRSSBytes           int64                    `json:"peakRssBytes"`
	BytesDownloaded        int64                    `json:"bytesDownloaded"`
	Held                   map[remodel.HoldCode]int `json:"held"`
	NotConverged           []int                    `json:"notConverged"`
	Phases                 []Phase                  `json:"phases"`
}

// Phase is one fleet-wide reconcile.
type Phase struct {
	Name string `json:"name"`
	*fleet.Report
}

var defaultImages = []fleet.Image{
	{Name: "os-v1.qcow2", Format: materials.FormatQcow2, SizeBytes: 700 << 20, VirtualSize: 8 << 30},
	{Name: "data-v1.raw", Format: materials.FormatRaw, SizeBytes: 256 << 20},
	{Name: "tools-v1.qcow2", Format: materials.FormatQcow2, SizeBytes: 120 << 20, VirtualSize: 2 << 30},
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fleetsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	devices := fs.Int("devices", 1000, "devices in the fleet")
	volumes := fs.Int("volumes", 50, "volumes per device")
	blank := fs.Float64("blank-share", 0.3, "share of volumes that are blank (0..1)")
	disk := fs.Int64("disk-gib", 512, "each device's disk in GiB")
	spread := fs.Float64("disk-spread", 0, "disks vary by up to this share either way (0..1)")
	rollout := fs.String("rollout", "update", "the rollout: none, update (a new OS image on a share of its volumes) or purge (bump a share of generations)")
	share := fs.Float64("share", 0.5, "share of volumes the rollout touches")
	seed := fs.Uint64("seed", 1, "generator seed")
	workers := fs.Int("workers", 0, "devices reconciled in parallel (GOMAXPROCS when 0)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	perDevice := fs.Bool("per-device", false, "include every device's report")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	spec := fleet.Spec{Devices: *devices, VolumesPerDevice: *volumes, Images: defaultImages, BlankShare: *blank,
		DiskBytes: *disk << 30, DiskSpread: *spread, Seed: *seed}
	f, err := fleet.New(spec)
	if err != nil {
		fmt.Fprintln(stderr, "fleetsim:", err)
		return 2
	}
	var change fleet.Change
	switch *rollout {
	case "none":
	case "update":
		v2 := fleet.Image{Name: "os-v2.qcow2", Format: materials.FormatQcow2, SizeBytes: 720 << 20, VirtualSize: 8 << 30}
		f.Publish(v2)
		change = spec.UpdateImage(*seed, defaultImages[0], v2, *share)
	case "purge":
		change = fleet.BumpGenerations(*seed, *share)
	default:
		fmt.Fprintf(stderr, "fleetsim: --rollout %q: want none, update or purge\n", *rollout)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts := fleet.Options{Workers: *workers}
	first, err := f.Converge(ctx, opts)
	if err != nil {
		fmt.Fprintln(stderr, "fleetsim:", err)
		return 1
	}
	phases := []Phase{{"initial", first}}
	if change != nil {
		r, err := f.Rollout(ctx, change, opts)
		if err != nil {
			fmt.Fprintln(stderr, "fleetsim:", err)
			return 1
		}
		phases = append(phases, Phase{"rollout " + *rollout, r})
	}
	sum := summarize(spec.Devices, phases)
	if !*perDevice {
		for _, p := range phases {
			p.PerDevice = nil
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			fmt.Fprintln(stderr, "fleetsim:", err)
			return 1
		}
	} else {
		printTable(stdout, sum)
	}
	if len(sum.NotConverged) > 0 {
		return 3
	}
	return 0
}

// summarize adds the phases up; held and not converged are the last
// phase's, what the fleet is left with.
func summarize(devices int, phases []Phase) Summary {
	s := Summary{Devices: devices, Phases: phases}
	var cpu float64
	for _, p := range phases {
		s.Reconciles += p.Reconciles
		s.BytesDownloaded += p.BytesDownloaded
		s.PeakRSSBytes = max(s.PeakRSSBytes, p.PeakRSSBytes)
		cpu += p.CPUSeconds
	}
	if cpu > 0 {
		s.ReconcilesPerCPUSecond = float64(s.Reconciles) / cpu
	}
	last := phases[len(phases)-1]
	s.Held, s.NotConverged = last.Held, last.NotConverged
	return s
}

func printTable(w io.Writer, s Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\treconciles\trounds\tremodels\tdownloaded\twritten\tpeak disk\theld\tnot converged")
	for _, p := range s.Phases {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%.0f%%\t%s\t%d\n", p.Name, p.Reconciles, counts(p.Rounds), counts(p.Remodels),
			remodel.Bytes(p.BytesDownloaded), remodel.Bytes(p.BytesWritten), 100*p.PeakDiskShare, counts(p.Held), len(p.NotConverged))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d devices, %d reconciles, %.0f reconciles per CPU second, peak RSS %s, %s downloaded\n",
		s.Devices, s.Reconciles, s.ReconcilesPerCPUSecond, remodel.Bytes(s.PeakRSSBytes), remodel.Bytes(s.BytesDownloaded))
	if n := len(s.NotConverged); n > 0 {
		show := s.NotConverged[:min(n, 20)]
		fmt.Fprintf(w, "not converged: %d devices, first %v\n", n, show)
	}
}

// counts renders a map as "k=v k=v", keys sorted.
func counts[K comparable, M ~map[K]int](m M) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%v=%d", k, v))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}
