package workflows

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

// Names the CLI, the worker and the UI share.
const (
	WorkflowName = "RetireDatabase"
	TaskQueue    = "retire"

	UpdateApprove     = "approve"
	UpdateObject      = "object"
	UpdateExtend      = "extend"
	UpdateAcknowledge = "acknowledge-clients"
	QueryStatus       = "status"
)

// Reason says why the object is retired; it decides whether owners must sign off.
type Reason string

const (
	// ReasonDecommission: the system is shut down. Data is destroyed only with an owner's sign-off.
	ReasonDecommission Reason = "decommission"
	// ReasonMigration: the data lives on elsewhere. No sign-off needed (seeds/000, 4.1).
	ReasonMigration Reason = "migration"
)

// Defaults and limits of the lifecycle (seeds/000: watch 3-7 days, observe 7-35 days).
const (
	DefaultSampleWindow  = 3 * 24 * time.Hour
	DefaultObserveWindow = 14 * 24 * time.Hour
	MaxObserveWindow     = 35 * 24 * time.Hour
)

// Request is what a DBA asks for. It names profiles, never credentials.
type Request struct {
	Connection    string          `json:"connection"`
	Object        string          `json:"object"`
	Reason        Reason          `json:"reason"`
	Owners        []string        `json:"owners"`
	Requester     string          `json:"requester"`
	Ticket        string          `json:"ticket,omitempty"`
	Strategy      engine.Strategy `json:"strategy"`
	SampleWindow  time.Duration   `json:"sample_window"`
	ObserveWindow time.Duration   `json:"observe_window"`
	Store         string          `json:"store,omitempty"`
	DryRun        bool            `json:"dry_run,omitempty"`
	// Verify is how the archive is proved before the drop: "checksums" (read everything
	// back) or "restore" (also restore it into a scratch database and compare every table).
	Verify string `json:"verify,omitempty"`
}

// Archive verification levels.
const (
	VerifyChecksums = "checksums"
	VerifyRestore   = "restore"
)

var (
	profileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	objectName  = regexp.MustCompile(`^[A-Za-z0-9_$]{1,64}$`)
	personName  = regexp.MustCompile(`^[\pL\pN_.@+-]{1,128}$`)
)

// WithDefaults fills what the DBA left out.
func (r Request) WithDefaults() Request {
	if r.Strategy == "" {
		r.Strategy = engine.StrategyRevoke
	}
	if r.SampleWindow == 0 {
		r.SampleWindow = DefaultSampleWindow
	}
	if r.ObserveWindow == 0 {
		r.ObserveWindow = DefaultObserveWindow
	}
	if r.Verify == "" {
		r.Verify = VerifyChecksums
	}
	for i, o := range r.Owners {
		r.Owners[i] = strings.TrimSpace(o)
	}
	return r
}

// Validate checks what can be checked without a database: the worker checks the rest
// (system schemas, existence, its window policy) in the plan phase.
func (r Request) Validate() error {
	var errs []error
	if !profileName.MatchString(r.Connection) {
		errs = append(errs, fmt.Errorf("connection %q is not a profile name (letters, digits, _ . -)", r.Connection))
	}
	if !objectName.MatchString(r.Object) {
		errs = append(errs, fmt.Errorf("object %q is not a plain identifier (letters, digits, _ and $, at most 64)", r.Object))
	}
	if r.Store != "" && !profileName.MatchString(r.Store) {
		errs = append(errs, fmt.Errorf("store %q is not a profile name", r.Store))
	}
	switch r.Reason {
	case ReasonDecommission, ReasonMigration:
	default:
		errs = append(errs, fmt.Errorf("reason %q: use %q (system shut down, owners must sign off) or %q (data lives on elsewhere)", r.Reason, ReasonDecommission, ReasonMigration))
	}
	switch r.Strategy {
	case engine.StrategyRevoke, engine.StrategyRename:
	default:
		errs = append(errs, fmt.Errorf("strategy %q: use %q or %q", r.Strategy, engine.StrategyRevoke, engine.StrategyRename))
	}
	switch r.Verify {
	case VerifyChecksums, VerifyRestore:
	default:
		errs = append(errs, fmt.Errorf("verify %q: use %q (read the archive back) or %q (also test-restore it)", r.Verify, VerifyChecksums, VerifyRestore))
	}
	if !personName.MatchString(r.Requester) {
		errs = append(errs, fmt.Errorf("requester %q is not a valid name", r.Requester))
	}
	for _, o := range r.Owners {
		if !personName.MatchString(o) {
			errs = append(errs, fmt.Errorf("owner %q is not a valid name", o))
		}
	}
	if r.Reason == ReasonDecommission && !slices.ContainsFunc(r.Owners, func(o string) bool { return o != r.Requester }) {
		errs = append(errs, errors.New("a decommission needs at least one owner other than the requester to sign off (--owner)"))
	}
	if r.SampleWindow < 0 || r.ObserveWindow < 0 {
		errs = append(errs, errors.New("windows cannot be negative"))
	}
	if r.ObserveWindow > MaxObserveWindow {
		errs = append(errs, fmt.Errorf("observation window %s is longer than the %s maximum", days(r.ObserveWindow), days(MaxObserveWindow)))
	}
	return errors.Join(errs...)
}

// WorkflowID makes a second retirement of the same object impossible while one runs.
func WorkflowID(connection, object string) string {
	return "retire:" + connection + ":" + object
}

// Phase is where a retirement stands.
type Phase string

const (
	PhasePlan      Phase = "plan"
	PhaseSample    Phase = "sample"
	PhaseQuiesce   Phase = "quiesce"
	PhaseObserve   Phase = "observe"
	PhaseArchive   Phase = "archive"
	PhaseDrop      Phase = "drop"
	PhaseVerify    Phase = "verify"
	PhaseRecord    Phase = "record"
	PhaseDone      Phase = "done"
	PhaseAborted   Phase = "aborted"
	PhaseCancelled Phase = "cancelled"
	PhaseFailed    Phase = "failed"
)

// Phases in lifecycle order, for the CLI's --phase help and ordering.
var Phases = []Phase{PhasePlan, PhaseSample, PhaseQuiesce, PhaseObserve, PhaseArchive, PhaseDrop, PhaseVerify, PhaseRecord, PhaseDone, PhaseAborted, PhaseCancelled, PhaseFailed}

// Signoff is an owner's yes to destroying the data.
type Signoff struct {
	By      string    `json:"by"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// Objection is an owner's "still needed": access comes back and the retirement ends.
type Objection struct {
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Extension lengthens the observation window.
type Extension struct {
	By     string        `json:"by"`
	Extra  time.Duration `json:"extra"`
	Reason string        `json:"reason,omitempty"`
	At     time.Time     `json:"at"`
}

// Acknowledgement is a DBA's word that the clients seen during sampling may lose access.
type Acknowledgement struct {
	By   string    `json:"by"`
	Note string    `json:"note"`
	At   time.Time `json:"at"`
}

// Gate is one condition the retirement must pass, with who passed it and when.
type Gate struct {
	Name   string    `json:"name"`
	State  string    `json:"state"` // pending, passed, failed, waived
	Detail string    `json:"detail,omitempty"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at,omitempty"`
}

// Gate states.
const (
	GatePending = "pending"
	GatePassed  = "passed"
	GateFailed  = "failed"
	GateWaived  = "waived"
)

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	return d.String()
}
