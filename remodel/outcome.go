package remodel

import (
	"time"

	"github.com/edgewright/edgewright/materials"
)

// The outcome and event types live here, beside the Plan they describe,
// so that a reporter or a simulator can follow an apply without importing
// the executor (and with it gRPC and containerd).

// Status is how a remodel ended.
type Status string

const (
	StatusDone    Status = "done"
	StatusFailed  Status = "failed"
	StatusSkipped Status = "skipped"
)

// Result is one remodel's outcome.
type Result struct {
	RemodelID ID                    `json:"remodelId"`
	Action    Action                `json:"action"`
	Target    materials.MaterialRef `json:"target"`
	Status    Status                `json:"status"`
	// Error is set for failed remodels, Reason for skipped ones (and for
	// done ones that found their work already done).
	Error    string    `json:"error,omitempty"`
	Err      error     `json:"-"`
	Reason   string    `json:"reason,omitempty"`
	Bytes    int64     `json:"bytes,omitempty"`
	Attempts int       `json:"attempts,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
}

// RemodelEvent says a remodel started its work (Result nil) or ended
// (Result set: done, failed or skipped), for reporters that follow an
// apply's states.
type RemodelEvent struct {
	Remodel *Remodel
	Result  *Result
	At      time.Time
}

// Event is progress on one material: bytes done of bytes known (0 when the
// total is not known yet). For one material, Done never decreases.
//
// A download that fetches fewer bytes than it writes (a chunked one: the
// rest comes from local seeds) also says Fetched of ToFetch, the bytes
// over the network; both are 0 for a download that writes what it
// fetches. Fetched never decreases either; ToFetch grows when a chunked
// download falls back to the whole blob, so a percentage is Done over
// Known (the blob), which stays monotone whatever path the bytes took.
type Event struct {
	RemodelID ID                     `json:"remodelId"`
	Kind      materials.MaterialKind `json:"kind"`
	ID        string                 `json:"id"`
	Done      int64                  `json:"done"`
	Known     int64                  `json:"known"`
	Fetched   int64                  `json:"fetched,omitempty"`
	ToFetch   int64                  `json:"toFetch,omitempty"`
}
