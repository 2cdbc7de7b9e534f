package workflows

import (
	"slices"
	"time"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/proof"
)

// Status is what the status query returns and what the retirement record is made of.
type Status struct {
	WorkflowID string  `json:"workflow_id"`
	RunID      string  `json:"run_id"`
	Request    Request `json:"request"`
	Phase      Phase   `json:"phase"`
	// Waiting says what the retirement waits for, in words, when it waits for a person.
	Waiting string `json:"waiting,omitempty"`

	StartedAt    time.Time     `json:"started_at"`
	SampleUntil  time.Time     `json:"sample_until,omitempty"`
	ObserveFrom  time.Time     `json:"observe_from,omitempty"`
	ObserveUntil time.Time     `json:"observe_until,omitempty"`
	ObserveTotal time.Duration `json:"observe_total"`
	FinishedAt   time.Time     `json:"finished_at,omitempty"`

	Plan *activities.Plan `json:"plan,omitempty"`
	// Signers are who may decide, with their keys, as the plan pinned them from the owners
	// directory; RequesterVerified is what the requester's proof proved.
	Signers           *activities.Signers `json:"signers,omitempty"`
	RequesterVerified *proof.Verified     `json:"requester_verified,omitempty"`
	// Nonces are the proofs' nonces spent in this run: a proof decides once.
	Nonces []string `json:"nonces,omitempty"`
	// ObjectLock is the id of the workflow that holds the object on its server for this run.
	ObjectLock      string           `json:"object_lock,omitempty"`
	Clients         []engine.Session `json:"clients,omitempty"`
	SampleLooks     int              `json:"sample_looks,omitempty"`
	Acknowledgement *Acknowledgement `json:"acknowledgement,omitempty"`
	// Evidence is the usage evidence (runs started before it existed have only Clients).
	Evidence       *Evidence                  `json:"evidence,omitempty"`
	Cut            *engine.CutResult          `json:"cut,omitempty"`
	AccessRestored bool                       `json:"access_restored,omitempty"`
	Signoffs       []Signoff                  `json:"signoffs,omitempty"`
	Objections     []Objection                `json:"objections,omitempty"`
	Extensions     []Extension                `json:"extensions,omitempty"`
	Archiving      *Archiving                 `json:"archiving,omitempty"`
	Archive        *activities.ArchiveResult  `json:"archive,omitempty"`
	Verification   *activities.Verification   `json:"verification,omitempty"`
	RestoreCheck   *activities.RestoreCheck   `json:"restore_check,omitempty"`
	Gone           *engine.GoneReport         `json:"gone,omitempty"`
	Gates          []Gate                     `json:"gates"`
	Notices        []Notice                   `json:"notices,omitempty"`
	Outcome        string                     `json:"outcome,omitempty"`
	Error          string                     `json:"error,omitempty"`
	RecordKeys     *activities.RecordLocation `json:"record_keys,omitempty"`
}

// Archiving is the export under way, as the Archive activity last reported it (at most
// once a minute on a production worker).
type Archiving struct {
	activities.ArchiveCounts
	Since time.Time `json:"since"`       // when the export was first scheduled
	At    time.Time `json:"at,omitzero"` // when the last report arrived
}

// Record is the retirement record: the workflow's result, also written as record.json and
// record.md beside the archive.
type Record = Status

// Gate names, in the order they are met.
const (
	GatePlan        = "plan stored"
	GateClients     = "no unacknowledged clients"
	GateAccessCut   = "access cut"
	GateWindow      = "observation window over"
	GateSignoff     = "owner sign-off"
	GateNoObjection = "no objection"
	GateArchive     = "archive verified"
	GateRestorable  = "archive restorable"
	GateDropped     = "dropped"
	GateGone        = "verified gone"
)

// gateOrder is the order gates are met in, for a gate that is added during the run.
var gateOrder = []string{GatePlan, GateClients, GateEvidence, GateAccessCut, GateWindow, GateAttempts, GateSignoff, GateNoObjection, GateArchive, GateRestorable, GateDropped, GateGone}

func (s *Status) gate(name string) *Gate {
	for i := range s.Gates {
		if s.Gates[i].Name == name {
			return &s.Gates[i]
		}
	}
	at := len(s.Gates)
	if rank := slices.Index(gateOrder, name); rank >= 0 {
		for i, g := range s.Gates {
			if r := slices.Index(gateOrder, g.Name); r > rank {
				at = i
				break
			}
		}
	}
	s.Gates = slices.Insert(s.Gates, at, Gate{Name: name, State: GatePending})
	return &s.Gates[at]
}

func (s *Status) setGate(name, state, detail, by string, at time.Time) {
	g := s.gate(name)
	g.State, g.Detail, g.By, g.At = state, detail, by, at
}

// Signed says whether the sign-off rule of the reason is met.
func (s *Status) Signed() bool {
	return s.Request.Reason == ReasonMigration || len(s.Signoffs) > 0
}
