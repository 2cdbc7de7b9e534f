package workflows

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/proof"
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
	// Proof proves who the requester is (an SSH signature over Says); checked after the
	// plan pins the keys. Proofs are signatures, not secrets: they may be in history.
	Proof *proof.Proof `json:"proof,omitempty"`
	// Fleet is the RetireFleet workflow that started this retirement as one of its objects
	// (empty when a DBA started it alone).
	Fleet string `json:"fleet,omitempty"`
	// FleetSays is what the requester signed to start that fleet (FleetRequest.Says): Proof
	// is then the fleet's proof, and the retirement checks it as its requester's.
	FleetSays string `json:"fleet_says,omitempty"`
}

// Decision names, as signed in proof statements: the update names, and start.
const DecisionStart = "start"

// Says is what a requester signs: every field of the request that changes what happens.
func (r Request) Says() string {
	r.Owners = slices.Clone(r.Owners)
	r = r.WithDefaults()
	return fmt.Sprintf("retire %s/%s reason=%s owners=%s requester=%s ticket=%s strategy=%s sample=%s observe=%s verify=%s store=%s dry_run=%t",
		r.Connection, r.Object, r.Reason, strings.Join(r.Owners, ","), r.Requester, r.Ticket, r.Strategy, r.SampleWindow, r.ObserveWindow, r.Verify, r.Store, r.DryRun)
}

// Archive verification levels.
const (
	VerifyChecksums = "checksums"
	VerifyRestore   = "restore"
)

var (
	profileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	personName  = regexp.MustCompile(`^[\pL\pN_.@+-]{1,128}$`)
)

// MaxObjectName is longer than any engine's names (Oracle: 128 bytes, plus "pdb:"); which
// names are valid is each engine's rule, applied by the plan on the worker.
const MaxObjectName = 256

// SamePerson compares people's names as people do: case-insensitively, ignoring the spaces
// around them. Every comparison of owners, requesters and deciders goes through it.
func SamePerson(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// checkObjectName refuses only what no engine accepts: each engine's own rule (MySQL
// identifiers, Oracle schemas and pdb:NAME) is applied by the plan, where the engine of the
// connection profile is known.
func checkObjectName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("say which object to retire: the database, schema or pdb:NAME is empty")
	case len(name) > MaxObjectName:
		return fmt.Errorf("object name is %d bytes long; no engine has names longer than %d", len(name), MaxObjectName)
	case strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Errorf("object %q holds a control character", name)
	case !utf8.ValidString(name):
		return fmt.Errorf("object %q is not valid UTF-8", name)
	}
	return nil
}

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
	r.Requester = strings.TrimSpace(r.Requester)
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
	if err := checkObjectName(r.Object); err != nil {
		errs = append(errs, err)
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

// Phase is where a retirement stands. Which phases are running, past the drop or ended is
// said here and nowhere else: the CLI, the worker's gauge and the workflow ask these methods.
type Phase string

const (
	PhasePlan    Phase = "plan"
	PhaseSample  Phase = "sample"
	PhaseQuiesce Phase = "quiesce"
	PhaseObserve Phase = "observe"
	PhaseArchive Phase = "archive"
	PhaseDrop    Phase = "drop"
	PhaseVerify  Phase = "verify"
	PhaseRecord  Phase = "record"
	// PhaseDone: the object was dropped and verified gone, and the record written.
	PhaseDone Phase = "done"
	// PhaseDryRun: a dry run planned and sampled and changed nothing.
	PhaseDryRun    Phase = "dry-run"
	PhaseAborted   Phase = "aborted"
	PhaseCancelled Phase = "cancelled"
	PhaseFailed    Phase = "failed"
)

// RunningPhases are the phases of a retirement under way, in lifecycle order.
var RunningPhases = []Phase{PhasePlan, PhaseSample, PhaseQuiesce, PhaseObserve, PhaseArchive, PhaseDrop, PhaseVerify, PhaseRecord}

// EndedPhases are the phases a retirement ends in.
var EndedPhases = []Phase{PhaseDone, PhaseDryRun, PhaseAborted, PhaseCancelled, PhaseFailed}

// Phases in lifecycle order, for the CLI's --phase help and ordering.
var Phases = append(slices.Clip(RunningPhases), EndedPhases...)

// Ended is true once the retirement is over, whatever its outcome.
func (p Phase) Ended() bool { return slices.Contains(EndedPhases, p) }

// PastDrop is true from the drop on: data may be gone, and only `retire restore` from the
// archive brings it back. (A run that failed during the drop is PhaseFailed; its status
// says whether the drop began.)
func (p Phase) PastDrop() bool {
	switch p {
	case PhaseDrop, PhaseVerify, PhaseRecord, PhaseDone:
		return true
	}
	return false
}

// BeforeDrop is true while the retirement runs and the data can still be given back without
// a restore.
func (p Phase) BeforeDrop() bool { return !p.PastDrop() && !p.Ended() }

// Valid says whether p is a phase at all.
func (p Phase) Valid() bool { return slices.Contains(Phases, p) }

// Signoff is an owner's yes to destroying the data.
type Signoff struct {
	By      string    `json:"by"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
	Proven
}

// Proven is the proof a decision came with and what the workflow found it proves. Proof is
// the person's; Verified is set by the workflow (whatever a caller sends in it is replaced).
type Proven struct {
	Proof    *proof.Proof    `json:"proof,omitempty"`
	Verified *proof.Verified `json:"verified,omitempty"`
}

// Says is what an owner signs to sign off.
func (s Signoff) Says() string { return "approve: " + strings.TrimSpace(s.Comment) }

// Objection is an owner's "still needed": access comes back and the retirement ends.
type Objection struct {
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	Proven
}

// Says is what an owner signs to object.
func (o Objection) Says() string { return "object: " + strings.TrimSpace(o.Reason) }

// Extension lengthens the observation window.
type Extension struct {
	By     string        `json:"by"`
	Extra  time.Duration `json:"extra"`
	Reason string        `json:"reason,omitempty"`
	At     time.Time     `json:"at"`
	Proven
}

// Says is what an owner signs to extend.
func (e Extension) Says() string {
	return fmt.Sprintf("extend by %s: %s", e.Extra, strings.TrimSpace(e.Reason))
}

// Acknowledgement is a DBA's word that the clients seen during sampling may lose access,
// or that the attempts after the cut may be ignored. Covers is what the person was shown
// (EvidenceToAcknowledge, AttemptsToAcknowledge): an acknowledgement of anything else is
// refused.
type Acknowledgement struct {
	By     string    `json:"by"`
	Note   string    `json:"note"`
	Covers string    `json:"covers,omitempty"`
	At     time.Time `json:"at"`
	Proven
}

// Says is what a person signs to acknowledge: the note and exactly what it covers.
func (a Acknowledgement) Says() string {
	return "acknowledge: " + strings.TrimSpace(a.Note) + " | covers: " + a.Covers
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

// days prints a window the way DBAs write it: 14d, 35d 1h, 36h, 90m, 30s.
func days(d time.Duration) string {
	if d < 0 {
		return "-" + days(-d)
	}
	var parts []string
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.unit; n > 0 {
			parts = append(parts, fmt.Sprintf("%d%s", n, u.name))
			d -= n * u.unit
		}
	}
	if d > 0 || len(parts) == 0 {
		parts = append(parts, d.String())
	}
	return strings.Join(parts, " ")
}

// DaysText is days for the CLI.
func DaysText(d time.Duration) string { return days(d) }
