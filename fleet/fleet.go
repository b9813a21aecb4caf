package fleet

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/sim"
	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// Options tune a simulation.
type Options struct {
	// Foreman are the planning options of every device (Now and Space
	// come from the device).
	Foreman foreman.Options
	// MaxRounds bounds each device's reconcile (default 8).
	MaxRounds int
	// Workers reconcile devices in parallel (default GOMAXPROCS).
	Workers int
	// Step is how far the fleet's clock moves between reconciles
	// (default an hour), so grace periods run out as they would.
	Step time.Duration
}

// Fleet is a simulated fleet: a World and one in-memory device per
// index of the Spec.
type Fleet struct {
	spec    Spec
	gen     *generator
	world   *sim.World
	devices []*member
	changes []Change
	now     time.Time
	mu      sync.Mutex // guards now
}

type member struct {
	dev *sim.Device
}

// New makes the fleet's devices, empty, and publishes the Spec's images.
func New(spec Spec) (*Fleet, error) {
	spec = spec.withDefaults()
	if err := spec.check(); err != nil {
		return nil, err
	}
	f := &Fleet{spec: spec, gen: newGenerator(spec), world: sim.NewWorld(), now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	f.Publish(spec.Images...)
	for i := 0; i < spec.Devices; i++ {
		dev := sim.New(f.world, sim.Options{Root: "/dev" + fmt.Sprint(i), CapacityBytes: spec.diskBytes(i), Clock: f.clock, HistoryLimit: 8})
		f.devices = append(f.devices, &member{dev: dev})
	}
	return f, nil
}

// World is the fleet's datastores, for a caller to publish or break
// content (World.SetDown).
func (f *Fleet) World() *sim.World { return f.world }

// Device is device i's in-memory device.
func (f *Fleet) Device(i int) *sim.Device { return f.devices[i].dev }

// Publish makes images available at the fleet's datastore.
func (f *Fleet) Publish(images ...Image) {
	ds := materials.Datastore{ID: datastoreID, Type: materials.DatastoreHTTP, FQDN: f.spec.Datastore, Path: "images"}
	for _, im := range images {
		d := im.digest()
		f.world.Put(sim.Object{Digest: d, Size: im.SizeBytes, VirtualSize: im.VirtualSize})
		f.world.Serve(ds, im.Name, d)
	}
}

func (f *Fleet) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Config is device i's config now: the Spec's, with every rollout so far.
func (f *Fleet) Config(i int) *materials.Blueprint {
	cfg := f.gen.config(i)
	for _, c := range f.changes {
		c(i, cfg)
	}
	return architect.Draw(cfg)
}

// Rollout adds a change to every device's config and reconciles the fleet.
func (f *Fleet) Rollout(ctx context.Context, c Change, opts Options) (*Report, error) {
	f.changes = append(f.changes, c)
	return f.Converge(ctx, opts)
}

// Converge reconciles every device once (each to convergence or its round
// bound) and reports.
func (f *Fleet) Converge(ctx context.Context, opts Options) (*Report, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Step <= 0 {
		opts.Step = time.Hour
	}
	f.mu.Lock()
	f.now = f.now.Add(opts.Step)
	f.mu.Unlock()
	cpu0 := cpuTime()
	reports := make([]DeviceReport, len(f.devices))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < opts.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				reports[i] = f.reconcile(ctx, i, opts)
			}
		}()
	}
	for i := range f.devices {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return total(reports, cpuTime()-cpu0), nil
}

// reconcile converges device i with the real executor.
func (f *Fleet) reconcile(ctx context.Context, i int, opts Options) DeviceReport {
	m := f.devices[i]
	rep := DeviceReport{Device: i, Remodels: map[remodel.Action]int{}, Held: map[remodel.HoldCode]int{}}
	down0, written0 := m.dev.Downloaded(), m.dev.Written()
	ao := m.dev.Options()
	ao.Logger, ao.Clock = zap.NewNop(), f.clock
	ao.Retry = assembler.RetryPolicy{Attempts: 2, Base: time.Microsecond, Max: time.Microsecond}
	a, err := assembler.New(ao)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	bp := f.Config(i)
	var last *materials.Floorplan
	res, err := a.Converge(ctx, bp, assembler.ConvergeOptions{Foreman: opts.Foreman, MaxRounds: opts.MaxRounds,
		OnSurvey: func(_ int, fp *materials.Floorplan) { last = fp }})
	if err != nil && !errors.Is(err, assembler.ErrNoProgress) {
		rep.Error = err.Error()
	}
	if res != nil {
		rep.Rounds, rep.Converged = res.Rounds, res.Converged && err == nil && holdsAll(bp, last)
		for _, r := range res.Reports {
			for _, x := range r.Results {
				if x.Status == remodel.StatusDone {
					rep.Remodels[x.Action]++
				} else {
					rep.Failed++
				}
			}
		}
		if res.Plan != nil {
			for _, h := range res.Plan.Held {
				rep.Held[h.Code]++
			}
		}
	}
	rep.BytesDownloaded = m.dev.Downloaded() - down0
	rep.BytesWritten = m.dev.Written() - written0
	rep.PeakDiskBytes, rep.DiskBytes = m.dev.PeakUsedBytes()
	return rep
}

// holdsAll says whether the device holds every volume its config asks
// for, whole: a plan can be empty of remodels while some are held (no
// space, a guard), and then the device has not reached its config.
func holdsAll(bp *materials.Blueprint, fp *materials.Floorplan) bool {
	if fp == nil {
		return false
	}
	have := make(map[materials.VolumeKey]bool, len(fp.Volumes))
	for _, v := range fp.Volumes {
		if v.State == materials.StateComplete && !v.Temp && v.ID != "" {
			have[v.Key()] = true
		}
	}
	for _, v := range bp.Volumes {
		if !have[v.Key()] {
			return false
		}
	}
	return true
}

// DeviceReport is one device's reconcile.
type DeviceReport struct {
	Device int `json:"device"`
	Rounds int `json:"rounds"`
	// Converged: the reconcile ended with nothing left to do and every
	// volume of the config whole on the device.
	Converged bool                     `json:"converged"`
	Remodels  map[remodel.Action]int   `json:"remodels"`
	Failed    int                      `json:"failed,omitempty"`
	Held      map[remodel.HoldCode]int `json:"held,omitempty"`
	// BytesDownloaded and BytesWritten are this reconcile's.
	BytesDownloaded int64 `json:"bytesDownloaded"`
	BytesWritten    int64 `json:"bytesWritten"`
	// PeakDiskBytes is the most disk the device has used, of DiskBytes.
	PeakDiskBytes int64  `json:"peakDiskBytes"`
	DiskBytes     int64  `json:"diskBytes"`
	Error         string `json:"error,omitempty"`
}

// Report is a whole fleet's reconcile.
type Report struct {
	Devices int `json:"devices"`
	// Reconciles counts the control loop's passes (survey, plan, apply)
	// over every device: a device that converges from empty takes two,
	// one that does the work and one that finds nothing left to do.
	Reconciles int `json:"reconciles"`
	// ReconcilesPerCPUSecond is Reconciles over the process's CPU time
	// (user and system) spent on them; ConvergesPerCPUSecond counts
	// whole device converges instead.
	ReconcilesPerCPUSecond float64 `json:"reconcilesPerCpuSecond"`
	ConvergesPerCPUSecond  float64 `json:"convergesPerCpuSecond"`
	CPUSeconds             float64 `json:"cpuSeconds"`
	// PeakRSSBytes is the process's peak resident set so far.
	PeakRSSBytes    int64                    `json:"peakRssBytes"`
	BytesDownloaded int64                    `json:"bytesDownloaded"`
	BytesWritten    int64                    `json:"bytesWritten"`
	Remodels        map[remodel.Action]int   `json:"remodels"`
	Held            map[remodel.HoldCode]int `json:"held"`
	Failed          int                      `json:"failed"`
	// Rounds counts devices by the rounds they took.
	Rounds map[int]int `json:"rounds"`
	// NotConverged lists the devices that did not converge.
	NotConverged []int `json:"notConverged"`
	// PeakDiskShare is the highest peak disk use over disk size of any
	// device (0..1).
	PeakDiskShare float64        `json:"peakDiskShare"`
	PerDevice     []DeviceReport `json:"perDevice,omitempty"`
}

func total(devs []DeviceReport, cpu time.Duration) *Report {
	r := &Report{Devices: len(devs), Remodels: map[remodel.Action]int{}, Held: map[remodel.HoldCode]int{},
		Rounds: map[int]int{}, NotConverged: []int{}, PerDevice: devs, CPUSeconds: cpu.Seconds(), PeakRSSBytes: peakRSS()}
	for _, d := range devs {
		r.Reconciles += d.Rounds
		r.BytesDownloaded += d.BytesDownloaded
		r.BytesWritten += d.BytesWritten
		r.Failed += d.Failed
		r.Rounds[d.Rounds]++
		for a, n := range d.Remodels {
			r.Remodels[a] += n
		}
		for c, n := range d.Held {
			r.Held[c] += n
		}
		if !d.Converged {
			r.NotConverged = append(r.NotConverged, d.Device)
		}
		if d.DiskBytes > 0 {
			r.PeakDiskShare = max(r.PeakDiskShare, float64(d.PeakDiskBytes)/float64(d.DiskBytes))
		}
	}
	sort.Ints(r.NotConverged)
	if cpu > 0 {
		r.ReconcilesPerCPUSecond = float64(r.Reconciles) / cpu.Seconds()
		r.ConvergesPerCPUSecond = float64(r.Devices) / cpu.Seconds()
	}
	return r
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS is the process's peak resident set (Linux reports KiB).
func peakRSS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss << 10
}
