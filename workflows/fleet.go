package workflows

// RetireFleet retires a whole system's databases the way a careful release goes out
// (seeds/001): a beta wave first, one object per server, then a proven go from a DBA, then
// the rest group by group, with a limit of concurrent archives and drops per server, a
// failure budget, and pause, resume, exclude and abort. Each object is a RetireDatabase
// child with the object's own id, so the fleet adds no way around any of its gates.
//
// The fleet runs for as long as its slowest child (weeks), over up to MaxFleetObjects
// objects, so it keeps its history short: it continues as new at every wave boundary and
// whenever its history grows past a few thousand events, carrying its whole state in
// FleetState. It therefore never holds a child's future across runs: children tell the fleet
// how they stand with signals (SignalFleetReport), ask it for a slot before their archive
// (SignalFleetSlot) and are granted one by signal (SignalFleetSlotGranted). Their routine
// notices to owners go to the fleet too (SignalFleetNotice), which sends each person one
// digest (fleet_digest.go), and the fleet looks, now and then, for children that ended
// without telling it (fleet_watch.go).

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/proof"
)

// Names the CLI, the worker, the children and the UI share.
const (
	FleetWorkflowName = "RetireFleet"

	// SignalFleetReport carries a FleetReport from a child to its fleet: on every phase
	// entry, whenever what it waits for changes, and once at its end.
	SignalFleetReport = "fleet-report"
	// SignalFleetSlot carries a FleetSlotRequest: a child asks for a slot before its
	// archive, and releases it once its drop is verified (or when it ends).
	SignalFleetSlot = "fleet-slot"
	// SignalFleetSlotGranted is the fleet's answer (no payload): the child may archive and
	// drop now.
	SignalFleetSlotGranted = "fleet-slot-granted"

	QueryFleetStatus = "fleet-status"

	UpdateFleetProceed = "proceed"
	UpdateFleetPause   = "pause"
	UpdateFleetResume  = "resume"
	UpdateFleetExclude = "exclude"
	UpdateFleetAbort   = "abort"

	// DecisionFleetStart is what the requester's proof of a fleet says it decides.
	DecisionFleetStart = "fleet-start"

	// Activities, by name: the worker registers them as methods of activities.Activities.
	ActivityFleetPlan        = "FleetPlan"
	ActivityWriteFleetRecord = "WriteFleetRecord"
)

// AttrFleet is set to the fleet's name on the fleet and on every child it starts, so that
// `RetireFleet = "<name>"` lists them all.
var AttrFleet = temporal.NewSearchAttributeKeyKeyword("RetireFleet")

// FleetWorkflowID is the fleet's workflow id: one running fleet per name.
func FleetWorkflowID(name string) string { return "retire-fleet:" + name }

// How the objects after the beta wave are grouped into waves (seeds/001: all in one group,
// one per group, groups of N, one group per deployment unit, here a connection).
const (
	GroupAll           = "all"
	GroupOne           = "one"
	GroupN             = "n"
	GroupPerConnection = "per-connection"
)

// When a child counts as done for its wave.
const (
	// DoneDropped: the drop went through (the child is in verify, record or done).
	DoneDropped = "dropped"
	// DoneObserved: the child has been in its observation (access cut, nobody objected)
	// for ObservedFor, on the fleet's clock from the report that it entered it.
	DoneObserved = "observed"
)

// Limits of a fleet.
const (
	// MaxFleetObjects keeps FleetState, which every run carries whole in its first event,
	// under Temporal's 2 MB payload limit: about 0.5 KB an object, 1 KB with long errors.
	MaxFleetObjects = 1000
	// DefaultContinueAfterEvents is the history length after which a run hands over to the
	// next one, well before the server's own suggestion (4 Ki events by default).
	DefaultContinueAfterEvents = 2000
	// maxRunBytes is the history size after which a run hands over: the results of children
	// that end in the run that started them (their records) are in its history.
	maxRunBytes = 4 << 20
	// fleetStartBatch is how many child starts may be in flight at once: a large wave
	// starts over many tasks, and a run can hand over between them.
	fleetStartBatch = 50
	// handoverQuiet is how long a run, before it continues as new, waits once it has sent
	// children something (see handover).
	handoverQuiet = 10 * time.Millisecond
	// maxFleetRuns is how many past runs the state remembers (the record lists them).
	maxFleetRuns = 50
	// Texts from children are cut to these lengths: they travel in every run's input.
	maxWaitingText = 200
	maxErrorText   = 500
)

// FleetObject is one object a fleet retires; Owners are people the request adds to those
// the owners directory names, as for one retirement.
type FleetObject struct {
	Connection string   `json:"connection"`
	Object     string   `json:"object"`
	Owners     []string `json:"owners,omitempty"`
}

// Key is how the fleet, its waves and its people name an object: connection/object.
func (o FleetObject) Key() string { return o.Connection + "/" + o.Object }

// WavePlan says how the objects are grouped and paced.
type WavePlan struct {
	// Beta are the objects of the first wave ("connection/object"); empty: one object per
	// connection, the first of each in the order of Objects.
	Beta []string `json:"beta,omitempty"`
	// Group is how the other objects are grouped: all, one, n or per-connection (default).
	Group string `json:"group,omitempty"`
	// N is the size of each group for group n.
	N int `json:"n,omitempty"`
	// DoneWhen is when a child counts as done for its wave: dropped (default) or observed.
	DoneWhen    string        `json:"done_when,omitempty"`
	ObservedFor time.Duration `json:"observed_for,omitempty"`
	// PerConnection is how many children of one connection may be in archive or drop at
	// once (default 1).
	PerConnection int `json:"per_connection,omitempty"`
	// FailureBudget is how many children may fail before the fleet pauses (default 1);
	// resume gives the budget again.
	FailureBudget int `json:"failure_budget,omitempty"`
}

// FleetRequest is what a DBA asks for: the objects and how to pace them. Like Request it
// names profiles, never credentials.
type FleetRequest struct {
	Name          string          `json:"name"`
	Reason        Reason          `json:"reason"`
	Ticket        string          `json:"ticket,omitempty"`
	Requester     string          `json:"requester"`
	Objects       []FleetObject   `json:"objects,omitempty"`
	SampleWindow  time.Duration   `json:"sample_window"`
	ObserveWindow time.Duration   `json:"observe_window"`
	Strategy      engine.Strategy `json:"strategy"`
	Verify        string          `json:"verify,omitempty"`
	// Store is the store profile the children archive to and the fleet record goes to
	// (empty: the worker's default).
	Store string   `json:"store,omitempty"`
	Waves WavePlan `json:"waves"`
	// DigestEvery is how often at most the fleet sends each person its owners' digest
	// (0: the worker's default, 1h; a minute on a dev worker).
	DigestEvery time.Duration `json:"digest_every,omitempty"`
	// Proof is the requester's, over Says, for decision fleet-start and the fleet's id.
	Proof *proof.Proof `json:"proof,omitempty"`
}

// WithDefaults fills what the DBA left out. The objects are copied: the caller's stay as
// they were.
func (r FleetRequest) WithDefaults() FleetRequest {
	r.Name, r.Requester = strings.TrimSpace(r.Name), strings.TrimSpace(r.Requester)
	objs := make([]FleetObject, len(r.Objects))
	for i, o := range r.Objects {
		o.Connection, o.Object = strings.TrimSpace(o.Connection), strings.TrimSpace(o.Object)
		o.Owners = slices.Clone(o.Owners)
		for j := range o.Owners {
			o.Owners[j] = strings.TrimSpace(o.Owners[j])
		}
		objs[i] = o
	}
	if r.Objects != nil {
		r.Objects = objs
	}
	r.Waves.Beta = slices.Clone(r.Waves.Beta)
	for i := range r.Waves.Beta {
		r.Waves.Beta[i] = strings.TrimSpace(r.Waves.Beta[i])
	}
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
	if r.Waves.Group == "" {
		r.Waves.Group = GroupPerConnection
	}
	if r.Waves.DoneWhen == "" {
		r.Waves.DoneWhen = DoneDropped
	}
	if r.Waves.PerConnection == 0 {
		r.Waves.PerConnection = 1
	}
	if r.Waves.FailureBudget == 0 {
		r.Waves.FailureBudget = 1
	}
	return r
}

// Says is what the requester signs: every field that changes what happens. The objects and
// the beta list are pinned by a SHA-256 of their canonical lines, so that the statement of a
// thousand objects stays short; the order of the objects is part of it, because it decides
// the waves.
func (r FleetRequest) Says() string {
	r = r.WithDefaults()
	h := sha256.New()
	for _, o := range r.Objects {
		fmt.Fprintf(h, "object\t%s\t%s\t%s\n", o.Connection, o.Object, strings.Join(o.Owners, ","))
	}
	for _, b := range r.Waves.Beta {
		fmt.Fprintf(h, "beta\t%s\n", b)
	}
	w := r.Waves
	says := fmt.Sprintf("retire-fleet %s reason=%s requester=%s ticket=%s strategy=%s sample=%s observe=%s verify=%s store=%s "+
		"group=%s n=%d done_when=%s observed_for=%s per_connection=%d failure_budget=%d objects=%d beta=%d sha256=%s",
		r.Name, r.Reason, r.Requester, r.Ticket, r.Strategy, r.SampleWindow, r.ObserveWindow, r.Verify, r.Store,
		w.Group, w.N, w.DoneWhen, w.ObservedFor, w.PerConnection, w.FailureBudget, len(r.Objects), len(w.Beta), hex.EncodeToString(h.Sum(nil)))
	// Only when set: fleets signed before digests sign (and their children check) the
	// statement without it.
	if r.DigestEvery != 0 {
		says += " digest_every=" + r.DigestEvery.String()
	}
	return says
}

// Validate checks everything that can be checked without a database; each child's plan
// checks the rest. Call it on WithDefaults.
func (r FleetRequest) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !profileName.MatchString(r.Name) {
		add("fleet name %q: letters, digits, _ . - (it names the fleet's workflow and its search attribute)", r.Name)
	}
	// The fleet-wide fields are checked once, through the request of a stand-in object.
	tmpl := Request{Connection: "fleet", Object: "fleet", Reason: r.Reason, Requester: r.Requester, Ticket: r.Ticket, Strategy: r.Strategy,
		SampleWindow: r.SampleWindow, ObserveWindow: r.ObserveWindow, Store: r.Store, Verify: r.Verify}
	if err := tmpl.Validate(); err != nil {
		errs = append(errs, err)
	}
	switch n := len(r.Objects); {
	case n == 0:
		add("the fleet has no objects")
	case n > MaxFleetObjects:
		add("the fleet has %d objects; split it into fleets of at most %d", n, MaxFleetObjects)
	}
	seen := map[string]bool{}
	var objErrs []error
	for i, o := range r.Objects {
		where := fmt.Sprintf("object %d (%s)", i+1, o.Key())
		if !profileName.MatchString(o.Connection) {
			objErrs = append(objErrs, fmt.Errorf("%s: connection %q is not a profile name (letters, digits, _ . -)", where, o.Connection))
		}
		if err := checkObjectName(o.Object); err != nil {
			objErrs = append(objErrs, fmt.Errorf("%s: %v", where, err))
		}
		for _, p := range o.Owners {
			if !personName.MatchString(p) {
				objErrs = append(objErrs, fmt.Errorf("%s: owner %q is not a valid name", where, p))
			}
		}
		if seen[o.Key()] {
			objErrs = append(objErrs, fmt.Errorf("%s is listed twice", o.Key()))
		}
		seen[o.Key()] = true
	}
	// A thousand objects with the same mistake say it twenty times, not a thousand.
	if len(objErrs) > 20 {
		objErrs = append(objErrs[:20], fmt.Errorf("and %d more problems with objects", len(objErrs)-20))
	}
	errs = append(errs, objErrs...)
	w := r.Waves
	beta := map[string]bool{}
	for _, b := range w.Beta {
		switch {
		case beta[b]:
			add("beta object %s is listed twice", b)
		case !seen[b]:
			add("beta object %q is not one of the fleet's objects (write connection/object as in the list)", b)
		}
		beta[b] = true
	}
	switch w.Group {
	case GroupAll, GroupOne, GroupPerConnection:
		if w.N != 0 {
			add("n=%d is for group %q only (group is %q)", w.N, GroupN, w.Group)
		}
	case GroupN:
		if w.N <= 0 {
			add("group %q needs n > 0 (objects per wave)", GroupN)
		}
	default:
		add("group %q: use %q, %q, %q or %q", w.Group, GroupAll, GroupOne, GroupN, GroupPerConnection)
	}
	switch w.DoneWhen {
	case DoneDropped:
		if w.ObservedFor != 0 {
			add("observed_for is for done_when %q only", DoneObserved)
		}
	case DoneObserved:
		if w.ObservedFor < 0 {
			add("observed_for cannot be negative")
		}
		if w.ObservedFor > r.ObserveWindow {
			add("observed_for %s is longer than the observation window %s: no child would ever count as done", days(w.ObservedFor), days(r.ObserveWindow))
		}
	default:
		add("done_when %q: use %q (the drop went through) or %q (observed for observed_for)", w.DoneWhen, DoneDropped, DoneObserved)
	}
	if w.PerConnection < 0 {
		add("per_connection cannot be negative")
	}
	if w.FailureBudget < 0 {
		add("failure_budget cannot be negative")
	}
	switch {
	case r.DigestEvery < 0:
		add("digest_every cannot be negative")
	case r.DigestEvery > MaxDigestEvery:
		add("digest_every %s is longer than %s: sign-offs are asked for daily, and a digest must not skip one", days(r.DigestEvery), days(MaxDigestEvery))
	}
	return errors.Join(errs...)
}

// Wave states.
const (
	WavePending = "pending"
	WaveRunning = "running"
	WaveDone    = "done"
	// WaveStopped: the fleet was aborted while the wave ran.
	WaveStopped = "stopped"
	// WaveSkipped: the wave never started (aborted before it, or every object excluded).
	WaveSkipped = "skipped"
)

// FleetWave is one wave: its objects, where it stands and who gave its go.
type FleetWave struct {
	Number    int                  `json:"number"` // 1 is the beta wave
	Name      string               `json:"name"`
	Objects   []string             `json:"objects"` // connection/object
	State     string               `json:"state"`
	Proceed   *FleetDecisionRecord `json:"proceed,omitempty"`
	StartedAt time.Time            `json:"started_at,omitzero"`
	DoneAt    time.Time            `json:"done_at,omitzero"`
}

// PlanWaves groups the objects into waves: the beta wave first, then the others by
// Waves.Group, each in the order of the request. It is deterministic and reads nothing but
// the request, so the CLI can show the waves before anyone signs. Call it on WithDefaults.
func PlanWaves(r FleetRequest) ([]FleetWave, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	inBeta := map[string]bool{}
	var beta []string
	if len(r.Waves.Beta) > 0 {
		beta = slices.Clone(r.Waves.Beta)
	} else {
		// seeds/001: one machine per data centre; here, one object per server.
		conns := map[string]bool{}
		for _, o := range r.Objects {
			if !conns[o.Connection] {
				conns[o.Connection] = true
				beta = append(beta, o.Key())
			}
		}
	}
	for _, b := range beta {
		inBeta[b] = true
	}
	// The beta wave lists its objects in the request's order whatever order Beta gave.
	var first, rest []string
	var restConn []string
	for _, o := range r.Objects {
		if inBeta[o.Key()] {
			first = append(first, o.Key())
		} else {
			rest, restConn = append(rest, o.Key()), append(restConn, o.Connection)
		}
	}
	waves := []FleetWave{{Number: 1, Name: "beta", Objects: first}}
	add := func(name string, objs []string) {
		waves = append(waves, FleetWave{Number: len(waves) + 1, Name: name, Objects: objs})
	}
	switch r.Waves.Group {
	case GroupAll:
		if len(rest) > 0 {
			add("all the others", rest)
		}
	case GroupOne:
		for _, k := range rest {
			add(k, []string{k})
		}
	case GroupN:
		for i := 0; i < len(rest); i += r.Waves.N {
			part := rest[i:min(i+r.Waves.N, len(rest))]
			add(fmt.Sprintf("%d objects", len(part)), slices.Clone(part))
		}
	case GroupPerConnection:
		var order []string
		by := map[string][]string{}
		for i, k := range rest {
			c := restConn[i]
			if _, ok := by[c]; !ok {
				order = append(order, c)
			}
			by[c] = append(by[c], k)
		}
		for _, c := range order { // first appearance, never map order
			add("connection "+c, by[c])
		}
	}
	for i := range waves {
		waves[i].State = WavePending
	}
	return waves, nil
}

// FleetChild is one object of the fleet and how its retirement stands, as the child last
// reported it.
type FleetChild struct {
	FleetObject
	Wave       int    `json:"wave"`
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id,omitempty"`
	// Started is set when the fleet asked for the child to start (it may have failed to).
	Started   bool      `json:"started,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	Phase     Phase     `json:"phase,omitempty"`
	Waiting   string    `json:"waiting,omitempty"`
	Outcome   string    `json:"outcome,omitempty"`
	Error     string    `json:"error,omitempty"`
	Archive   string    `json:"archive,omitempty"`
	Record    string    `json:"record,omitempty"`
	// At is the child's clock at its last report; ObserveSince the fleet's when it heard
	// the child entered its observation.
	At           time.Time `json:"at,omitzero"`
	Seq          int       `json:"seq,omitempty"` // of the last report taken
	ObserveSince time.Time `json:"observe_since,omitzero"`
	// Done: the child reached the wave's done_when (or ended retired).
	Done   bool      `json:"done,omitempty"`
	DoneAt time.Time `json:"done_at,omitzero"`
	// Slot is SlotWaiting or SlotHeld (from before the archive to the verified drop).
	Slot string `json:"slot,omitempty"`
	// Excluded by a person; Cancelled: the fleet asked the child to stop (exclude, abort).
	Excluded      bool   `json:"excluded,omitempty"`
	ExcludedBy    string `json:"excluded_by,omitempty"`
	ExcludeReason string `json:"exclude_reason,omitempty"`
	Cancelled     bool   `json:"cancelled,omitempty"`
	// Failed: it counted against the failure budget.
	Failed bool `json:"failed,omitempty"`
	// run is the fleet run that started it: only that run's history gets its close event.
	StartRun int `json:"start_run,omitempty"`
}

// Where a child stands with its connection's slots.
const (
	SlotWaiting = "waiting"
	SlotHeld    = "held"
)

// Ended says the child's retirement is over (or never began).
func (c FleetChild) Ended() bool { return c.Phase.Ended() }

// FleetReport is what a child tells its fleet. At is the child's clock.
type FleetReport struct {
	WorkflowID string    `json:"workflow_id"`
	RunID      string    `json:"run_id"`
	Phase      Phase     `json:"phase"`
	Waiting    string    `json:"waiting,omitempty"`
	Outcome    string    `json:"outcome,omitempty"`
	Error      string    `json:"error,omitempty"`
	At         time.Time `json:"at"`
	// Archive is where the child's archive lies, once it is verified
	// (ArchiveResult.Location); Record where its record was written (its JSON URL or key).
	Archive string `json:"archive,omitempty"`
	Record  string `json:"record,omitempty"`
	// Seq counts the child's reports: signals sent in one task may arrive in another order,
	// and the clock does not tell them apart.
	Seq int `json:"seq,omitempty"`
}

// FleetSlotRequest asks for (or, with Release, gives back) one of the PerConnection slots of
// Connection.
type FleetSlotRequest struct {
	WorkflowID string `json:"workflow_id"`
	Connection string `json:"connection"`
	Release    bool   `json:"release,omitempty"`
}

// FleetSlot is who holds the slots of one connection, and who waits for one, in order.
type FleetSlot struct {
	Connection string   `json:"connection"`
	Holders    []string `json:"holders,omitempty"`
	Queue      []string `json:"queue,omitempty"`
}

// FleetDecision is a person's proceed, pause, resume or abort. Wave is the wave a proceed
// starts (it must be the one the fleet waits for, so that a go given while looking at an
// older status cannot start a later wave); for the others it may be left 0.
type FleetDecision struct {
	By   string `json:"by"`
	Note string `json:"note,omitempty"`
	Wave int    `json:"wave,omitempty"`
	Proven
}

// Says is what the person signs (the statement names the decision).
func (d FleetDecision) Says() string {
	return fmt.Sprintf("wave=%d note=%s", d.Wave, strings.TrimSpace(d.Note))
}

// FleetExclude takes one object out of the fleet: never started, or cancelled before its
// drop.
type FleetExclude struct {
	By     string `json:"by"`
	Object string `json:"object"` // connection/object
	Reason string `json:"reason"`
	Proven
}

// Says is what the person signs.
func (e FleetExclude) Says() string {
	return "exclude " + strings.TrimSpace(e.Object) + ": " + strings.TrimSpace(e.Reason)
}

// FleetDecisionRecord is a decision as the fleet took it, with what its proof proved.
type FleetDecisionRecord struct {
	Decision string          `json:"decision"`
	By       string          `json:"by"`
	Note     string          `json:"note,omitempty"`
	Wave     int             `json:"wave,omitempty"`
	Object   string          `json:"object,omitempty"`
	At       time.Time       `json:"at"`
	Verified *proof.Verified `json:"verified,omitempty"`
}

// FleetFailure is a child that ended without being retired.
type FleetFailure struct {
	Object string    `json:"object"`
	Phase  Phase     `json:"phase"`
	Error  string    `json:"error,omitempty"`
	At     time.Time `json:"at"`
}

// FleetRun is one run of the fleet, as it handed over to the next.
type FleetRun struct {
	Run    string    `json:"run"`
	Events int       `json:"events"`
	Wave   int       `json:"wave"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// FleetPlanInput asks the worker who may decide in a fleet.
type FleetPlanInput struct {
	Requester string        `json:"requester"`
	Objects   []FleetObject `json:"objects"`
	Store     string        `json:"store,omitempty"`
}

// FleetPlanResult are who may decide in the fleet, with their keys, pinned for its whole
// life: the requester, and the DBAs of the owners directory. Store is the store profile the
// fleet record goes to (the request's, or the worker's default; empty: none).
type FleetPlanResult struct {
	Pins      proof.Pins `json:"pins"`
	DBAs      []string   `json:"dbas,omitempty"`
	Requester string     `json:"requester"`
	Store     string     `json:"store,omitempty"`
	// DigestEvery and WatchEvery are the worker's intervals for the owners' digest (when
	// the request does not say) and for the look for children that vanished; 0 in fleets
	// planned before them: the defaults.
	DigestEvery time.Duration `json:"digest_every,omitempty"`
	WatchEvery  time.Duration `json:"watch_every,omitempty"`
}

// FleetRecordInput asks to write the fleet record.
type FleetRecordInput struct {
	Store    string `json:"store"`
	Path     string `json:"path"`
	JSON     []byte `json:"json"`
	Markdown string `json:"markdown"`
}

// FleetPhase is where a fleet stands.
type FleetPhase string

const (
	FleetPlanning FleetPhase = "plan"
	FleetRunning  FleetPhase = "running"
	// FleetWaiting: a wave is over and the next waits for its proven go.
	FleetWaiting  FleetPhase = "waiting"
	FleetPaused   FleetPhase = "paused"
	FleetAborting FleetPhase = "aborting"
	FleetDone     FleetPhase = "done"
	FleetAborted  FleetPhase = "aborted"
)

// FleetState is the fleet's input and everything it carries from one run to the next. A
// DBA starts a fleet with FleetState{Request: req}.
type FleetState struct {
	Request FleetRequest `json:"request"`
	// ContinueAfterEvents is the history length after which a run continues as new
	// (0: DefaultContinueAfterEvents). Tests make it small.
	ContinueAfterEvents int `json:"continue_after_events,omitempty"`

	FirstRunID        string                     `json:"first_run_id,omitempty"`
	StartedAt         time.Time                  `json:"started_at,omitzero"`
	FinishedAt        time.Time                  `json:"finished_at,omitzero"`
	Signers           *FleetPlanResult           `json:"signers,omitempty"`
	RequesterVerified *proof.Verified            `json:"requester_verified,omitempty"`
	Waves             []FleetWave                `json:"waves,omitempty"`
	Objects           []FleetChild               `json:"objects,omitempty"`
	Current           int                        `json:"current"` // index into Waves
	Decisions         []FleetDecisionRecord      `json:"decisions,omitempty"`
	Nonces            []string                   `json:"nonces,omitempty"`
	Failures          []FleetFailure             `json:"failures,omitempty"`
	BudgetFrom        int                        `json:"budget_from,omitempty"` // failures when last resumed
	Paused            *FleetDecisionRecord       `json:"paused,omitempty"`
	Aborted           *FleetDecisionRecord       `json:"aborted,omitempty"`
	Slots             []FleetSlot                `json:"slots,omitempty"`
	Phase             FleetPhase                 `json:"phase,omitempty"`
	Outcome           string                     `json:"outcome,omitempty"`
	RecordKeys        *activities.RecordLocation `json:"record_keys,omitempty"`
	RunCount          int                        `json:"run_count,omitempty"`
	Runs              []FleetRun                 `json:"runs,omitempty"`
	MaxEvents         int                        `json:"max_events,omitempty"`
	// Digest is the owners' digest: the notices waiting for it, and those sent.
	Digest *FleetDigest `json:"digest,omitempty"`
	// WatchAt is when the fleet next looks for children that ended without a report.
	WatchAt time.Time `json:"watch_at,omitzero"`
}

// FleetStatus is what the fleet-status query returns, the fleet's result, and its record.
type FleetStatus struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Namespace  string `json:"namespace,omitempty"`
	// Request is the fleet's request without its objects (they are in Objects).
	Request           FleetRequest     `json:"request"`
	Phase             FleetPhase       `json:"phase"`
	Waiting           string           `json:"waiting,omitempty"`
	Progress          string           `json:"progress,omitempty"`
	StartedAt         time.Time        `json:"started_at,omitzero"`
	FinishedAt        time.Time        `json:"finished_at,omitzero"`
	Signers           *FleetPlanResult `json:"signers,omitempty"`
	RequesterVerified *proof.Verified  `json:"requester_verified,omitempty"`
	// Wave is the number of the wave under way, or waiting for its go.
	Wave       int                        `json:"wave"`
	Waves      []FleetWave                `json:"waves,omitempty"`
	Objects    []FleetChild               `json:"objects,omitempty"`
	Decisions  []FleetDecisionRecord      `json:"decisions,omitempty"`
	Failures   []FleetFailure             `json:"failures,omitempty"`
	Paused     *FleetDecisionRecord       `json:"paused,omitempty"`
	Aborted    *FleetDecisionRecord       `json:"aborted,omitempty"`
	Slots      []FleetSlot                `json:"slots,omitempty"`
	Outcome    string                     `json:"outcome,omitempty"`
	RecordKeys *activities.RecordLocation `json:"record_keys,omitempty"`
	// Events is this run's history length so far (an upper estimate where the server
	// does not tell); MaxEvents the longest of any run; Runs the runs handed over.
	Events    int        `json:"events"`
	MaxEvents int        `json:"max_events"`
	RunCount  int        `json:"run_count"`
	Runs      []FleetRun `json:"runs,omitempty"`
	// Digest is the owners' digest; WatchAt the next look for children that vanished.
	Digest  *FleetDigest `json:"digest,omitempty"`
	WatchAt time.Time    `json:"watch_at,omitzero"`
}

// Child finds one object of the fleet by its key, connection/object.
func (s FleetStatus) Child(key string) (FleetChild, bool) {
	i := slices.IndexFunc(s.Objects, func(c FleetChild) bool { return c.Key() == key })
	if i < 0 {
		return FleetChild{}, false
	}
	return s.Objects[i], true
}

// fleet is one run of a fleet.
type fleet struct {
	s                  FleetState
	id, run, namespace string
	queue              string
	byID               map[string]int // workflow id -> index in s.Objects
	byKey              map[string]int // connection/object -> index
	// changes counts what the main loop must look at: reports, slot requests, decisions,
	// children started.
	changes int
	// inflight counts child starts and signals or cancellations sent whose outcome is not
	// known yet: a run hands over only when it is zero. starting counts the starts alone.
	inflight, starting int
	// events is an upper estimate of this run's history length, for servers (and the test
	// environment) that do not report it; progress is the estimate when the run began.
	events, progress int
	// handingOver stops the run sending anything new: what is asked now, the next run does.
	handingOver bool
	// sent: children were started, signalled or cancelled since the last quiet moment.
	sent bool
	// boundary: a wave just ended and the next waits for its go; the run hands over.
	boundary bool
	// cancelled: this run's workflow was cancelled (it aborts the fleet).
	cancelled   bool
	cancelDirty bool
	timer       workflow.Future
	timerAt     time.Time
	stopTimer   workflow.CancelFunc
	reports     workflow.ReceiveChannel
	slots       workflow.ReceiveChannel
	notices     workflow.ReceiveChannel
	// digesting: a digest is on its way; checking: a look for vanished children is.
	digesting, checking bool
	// watching is false for runs from before the look for vanished children (replay);
	// vanished are the closed children the last look found, for drain to take in.
	watching bool
	vanished []activities.ClosedChild
}

// RetireFleet retires the objects of a fleet, wave by wave.
func RetireFleet(ctx workflow.Context, st FleetState) (FleetStatus, error) {
	f, err := openFleet(ctx, st)
	if err != nil {
		return FleetStatus{}, err
	}
	// 1. Plan (first run only): validate, compute the waves, pin who may decide, and check
	// the requester's proof. Nothing starts before all of it passed.
	if f.s.Signers == nil {
		if err := f.begin(ctx); err != nil {
			f.s.Phase, f.s.Outcome = FleetAborted, "not started: "+errorText(err)
			f.details(ctx)
			return f.status(ctx), err
		}
	}
	// 2. Waves: the beta wave starts at once; each later one waits for a proven go. The
	// children run their own lifecycles; the fleet starts them, hands out the slots for
	// archive and drop, counts failures, and continues as new at every wave boundary.
	// 3. Record: once every child has ended, one fleet record lists them all.
	return f.loop(ctx)
}

func openFleet(ctx workflow.Context, st FleetState) (*fleet, error) {
	info := workflow.GetInfo(ctx)
	f := &fleet{s: st, id: info.WorkflowExecution.ID, run: info.WorkflowExecution.RunID, namespace: info.Namespace, queue: info.TaskQueueName}
	f.s.RunCount++
	if f.s.FirstRunID == "" {
		f.s.FirstRunID = info.FirstRunID
		if f.s.FirstRunID == "" {
			f.s.FirstRunID = f.run
		}
	}
	if f.s.StartedAt.IsZero() {
		f.s.StartedAt = f.now(ctx)
	}
	// Started, a workflow task, the search attribute: what every run has before it acts.
	f.events = 5
	f.index()
	if err := workflow.SetQueryHandler(ctx, QueryFleetStatus, func() (FleetStatus, error) { return f.status(ctx), nil }); err != nil {
		return nil, err
	}
	if err := f.registerUpdates(ctx); err != nil {
		return nil, err
	}
	// Reports and slot requests are read by the main loop only, never by a coroutine
	// blocked on the channel: a blocked receiver takes the value out of the channel before
	// it runs, and a run that continues as new in that moment loses it (seen on a server:
	// a child's last report went missing and its fleet waited for ever).
	f.reports = workflow.GetSignalChannel(ctx, SignalFleetReport)
	f.slots = workflow.GetSignalChannel(ctx, SignalFleetSlot)
	f.notices = workflow.GetSignalChannel(ctx, SignalFleetNotice)
	if f.watching = workflow.GetVersion(ctx, "fleet-watch-children", workflow.DefaultVersion, 1) == 1; f.watching {
		f.events++ // its marker
	}
	if f.s.Signers != nil {
		// Later runs set it again rather than trust that continue-as-new carried it over.
		f.upsertName(ctx)
	}
	f.progress = f.events
	return f, nil
}

func (f *fleet) upsertName(ctx workflow.Context) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrFleet.ValueSet(f.s.Request.Name)); err != nil {
		workflow.GetLogger(ctx).Warn("Could not set the RetireFleet search attribute (registered?)", "error", err)
	}
}

func (f *fleet) index() {
	f.byID, f.byKey = make(map[string]int, len(f.s.Objects)), make(map[string]int, len(f.s.Objects))
	for i, c := range f.s.Objects {
		f.byID[c.WorkflowID], f.byKey[c.Key()] = i, i
	}
}

// begin is the first run's plan: the request, the waves, the signers, the requester.
func (f *fleet) begin(ctx workflow.Context) error {
	req := f.s.Request.WithDefaults()
	f.s.Request = req
	waves, err := PlanWaves(req)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("invalid fleet request: "+err.Error(), "InvalidRequest", nil)
	}
	f.upsertName(ctx)
	var plan FleetPlanResult
	opts := shortOptions
	opts.Summary = fmt.Sprintf("Who may decide in fleet %s (%d objects)", req.Name, len(req.Objects))
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), ActivityFleetPlan,
		FleetPlanInput{Requester: req.Requester, Objects: req.Objects, Store: req.Store}).Get(ctx, &plan); err != nil {
		return err
	}
	f.events += costActivity
	// The requester signed with the name they typed; Pins resolves it to the directory's
	// entry. There is no run in the statement: the requester signs before the fleet starts.
	v, err := plan.Pins.Verify(req.Proof, proof.Expect{
		Decision: DecisionFleetStart, Workflow: f.id, Person: req.Requester, Says: req.Says(), Now: f.s.StartedAt,
	})
	if err != nil {
		return temporal.NewNonRetryableApplicationError("the requester's proof of identity is refused: "+err.Error(), "Refused", nil)
	}
	f.s.Signers, f.s.RequesterVerified = &plan, &v
	if v.Nonce != "" {
		f.s.Nonces = append(f.s.Nonces, v.Nonce)
	}
	f.s.Waves = waves
	wave := map[string]int{}
	for _, w := range waves {
		for _, k := range w.Objects {
			wave[k] = w.Number
		}
	}
	f.s.Objects = make([]FleetChild, len(req.Objects))
	for i, o := range req.Objects {
		f.s.Objects[i] = FleetChild{FleetObject: o, Wave: wave[o.Key()], WorkflowID: WorkflowID(o.Connection, o.Object)}
	}
	f.index()
	f.changes++
	return nil
}

// loop acts on what changed, hands over to a new run when it is time, and waits.
func (f *fleet) loop(ctx workflow.Context) (FleetStatus, error) {
	for {
		f.drain(ctx)
		f.act(ctx)
		f.details(ctx)
		if f.over() {
			return f.finish(ctx)
		}
		if why := f.handoverDue(ctx); why != "" {
			if f.boundary {
				// A wave's end is news its owners hear at once; the handover waits for it.
				f.sendDigest(ctx, why)
			}
			return f.handover(ctx, why)
		}
		if err := f.wait(ctx); err != nil {
			// Cancelling the fleet is an abort: children before their drop are cancelled
			// and give access back, the others finish, and the record says so.
			f.cancelled = true
			f.abort(FleetDecisionRecord{Decision: "cancel", By: "the fleet's workflow was cancelled", At: f.now(ctx)})
			ctx, _ = workflow.NewDisconnectedContext(ctx)
		}
	}
}

// wait blocks until something changes or the next child's observation counts.
func (f *fleet) wait(ctx workflow.Context) error {
	f.armTimer(ctx)
	seen := f.changes
	err := workflow.Await(ctx, func() bool {
		return f.changes != seen || f.reports.Len() > 0 || f.slots.Len() > 0 || f.notices.Len() > 0 || (f.timer != nil && f.timer.IsReady())
	})
	f.events += costTask
	if f.timer != nil && f.timer.IsReady() {
		f.timer, f.timerAt = nil, time.Time{}
	}
	return err
}

// armTimer keeps one timer, for the earliest moment the fleet has something to do on its
// own: a child's observation counts as done, the owners' digest is due, or the next look for
// vanished children.
func (f *fleet) armTimer(ctx workflow.Context) {
	next, summary := f.nextDeadline(), "a child's observation counts for its wave at "
	if at, why := f.digestDue(); !at.IsZero() && (next.IsZero() || at.Before(next)) {
		next, summary = at, "send the owners' digest ("+why+") at "
	}
	if at := f.watchDue(); !at.IsZero() && (next.IsZero() || at.Before(next)) {
		next, summary = at, "look for children that ended without a report at "
	}
	if next.IsZero() || (f.timer != nil && !next.Before(f.timerAt)) {
		return
	}
	if f.stopTimer != nil {
		f.stopTimer()
		f.events++
	}
	tctx, stop := workflow.WithCancel(ctx)
	f.timer = workflow.NewTimerWithOptions(tctx, next.Sub(f.now(ctx)), workflow.TimerOptions{Summary: summary + stamp(next)})
	f.timerAt, f.stopTimer = next, stop
	f.events += costTimer
}

func (f *fleet) nextDeadline() time.Time {
	w := f.s.Request.Waves
	if w.DoneWhen != DoneObserved || f.s.Current >= len(f.s.Waves) {
		return time.Time{}
	}
	var next time.Time
	for _, k := range f.s.Waves[f.s.Current].Objects {
		c := f.s.Objects[f.byKey[k]]
		if c.Done || c.Phase != PhaseObserve || c.ObserveSince.IsZero() {
			continue
		}
		if at := c.ObserveSince.Add(w.ObservedFor); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

// drain takes in every report and slot request already delivered, so that the loop acts on
// all of them, and so that none is left unread when the run continues as new.
func (f *fleet) drain(ctx workflow.Context) {
	for {
		var rep FleetReport
		if !f.reports.ReceiveAsync(&rep) {
			break
		}
		f.report(ctx, rep)
	}
	for {
		var req FleetSlotRequest
		if !f.slots.ReceiveAsync(&req) {
			break
		}
		f.slotRequest(req)
	}
	for {
		var n FleetNotice
		if !f.notices.ReceiveAsync(&n) {
			break
		}
		f.notice(ctx, n)
	}
	f.takeVanished(ctx)
}

// report takes a child's report in.
func (f *fleet) report(ctx workflow.Context, rep FleetReport) {
	f.events += costReceived
	i, ok := f.byID[rep.WorkflowID]
	if !ok {
		workflow.GetLogger(ctx).Warn("Report from a workflow that is not a child of this fleet", "workflow", rep.WorkflowID)
		return
	}
	c := &f.s.Objects[i]
	switch {
	case c.RunID != "" && rep.RunID != "" && rep.RunID != c.RunID:
		return // an earlier retirement of the same object, not the one this fleet started
	case c.Ended() && !rep.Phase.Ended():
		return // late news from before its end
	case rep.Seq > 0 && rep.Seq <= c.Seq && !rep.Phase.Ended():
		return // overtaken by a later report sent in the same instant
	case !rep.At.IsZero() && rep.At.Before(c.At) && !rep.Phase.Ended():
		return // overtaken by a later report
	}
	if rep.Seq > c.Seq {
		c.Seq = rep.Seq
	}
	if c.RunID == "" {
		c.RunID = rep.RunID
	}
	if rep.Phase == PhaseObserve && c.Phase != PhaseObserve {
		c.ObserveSince = f.now(ctx)
	}
	c.Phase, c.Waiting, c.At = rep.Phase, cut(rep.Waiting, maxWaitingText), rep.At
	c.Outcome, c.Error = cut(rep.Outcome, maxWaitingText), cut(rep.Error, maxErrorText)
	if rep.Archive != "" {
		c.Archive = rep.Archive
	}
	if rep.Record != "" {
		c.Record = rep.Record
	}
	if c.Ended() {
		f.childEnded(ctx, i)
	}
	f.changes++
}

// closed takes in the end of a child the fleet heard of through its own run (the child
// ended before it could report, or was terminated): its report, if one comes, says more.
func (f *fleet) closed(ctx workflow.Context, i int, rec Record, err error) {
	c := &f.s.Objects[i]
	if c.Ended() {
		return
	}
	switch {
	case err == nil:
		c.Phase, c.Outcome = rec.Phase, cut(rec.Outcome, maxWaitingText)
		if !c.Phase.Ended() {
			c.Phase = PhaseDone
		}
		if rec.Archive != nil {
			c.Archive = rec.Archive.Location()
		}
	case temporal.IsCanceledError(err):
		c.Phase = PhaseCancelled
	default:
		c.Phase, c.Error = PhaseFailed, cut(errorText(err), maxErrorText)
	}
	c.At = f.now(ctx)
	f.childEnded(ctx, i)
	f.changes++
}

// childEnded frees what the child held and counts it: retired, or against the budget.
func (f *fleet) childEnded(ctx workflow.Context, i int) {
	c := &f.s.Objects[i]
	c.Waiting = ""
	if c.StartRun == f.s.RunCount {
		f.events += costReceived // its close event is in this run's history
	}
	f.releaseSlot(c.WorkflowID)
	c.Slot = ""
	if c.Phase == PhaseDone && !c.Done {
		c.Done, c.DoneAt = true, f.now(ctx)
	}
	if c.Phase == PhaseDone || c.Failed || c.Excluded || (c.Cancelled && f.s.Aborted != nil) {
		return
	}
	c.Failed = true
	f.s.Failures = append(f.s.Failures, FleetFailure{Object: c.Key(), Phase: c.Phase, Error: c.Error, At: f.now(ctx)})
	if budget := f.s.Request.Waves.FailureBudget; f.s.Paused == nil && len(f.s.Failures)-f.s.BudgetFrom >= budget {
		f.s.Paused = &FleetDecisionRecord{Decision: UpdateFleetPause, By: "the failure budget",
			Note: fmt.Sprintf("%d of %d failures allowed: %s ended %s", len(f.s.Failures)-f.s.BudgetFrom, budget, c.Key(), orDash(joinNonEmpty(": ", string(c.Phase), c.Error))), At: f.now(ctx)}
		workflow.GetLogger(ctx).Warn("Fleet paused: failure budget spent", "fleet", f.s.Request.Name, "object", c.Key())
	}
}

// slotRequest takes in a child's request for a slot, or its release.
func (f *fleet) slotRequest(req FleetSlotRequest) {
	f.events += costReceived
	i, ok := f.byID[req.WorkflowID]
	if !ok {
		return
	}
	c := &f.s.Objects[i]
	f.changes++
	if req.Release {
		f.releaseSlot(c.WorkflowID)
		c.Slot = ""
		return
	}
	conn := strings.TrimSpace(req.Connection)
	if conn == "" {
		conn = c.Connection
	}
	sl := f.slot(conn)
	switch {
	case slices.Contains(sl.Holders, c.WorkflowID):
		// It asks again (it was reset, or retried): it goes first in line, and is granted
		// its slot again.
		sl.Holders = slices.DeleteFunc(sl.Holders, func(h string) bool { return h == c.WorkflowID })
		sl.Queue = slices.Insert(sl.Queue, 0, c.WorkflowID)
	case slices.Contains(sl.Queue, c.WorkflowID):
	default:
		sl.Queue = append(sl.Queue, c.WorkflowID)
	}
	c.Slot = SlotWaiting
}

func (f *fleet) slot(conn string) *FleetSlot {
	i, found := slices.BinarySearchFunc(f.s.Slots, conn, func(s FleetSlot, c string) int { return strings.Compare(s.Connection, c) })
	if !found {
		f.s.Slots = slices.Insert(f.s.Slots, i, FleetSlot{Connection: conn})
	}
	return &f.s.Slots[i]
}

func (f *fleet) releaseSlot(id string) {
	for i := range f.s.Slots {
		sl := &f.s.Slots[i]
		sl.Holders = slices.DeleteFunc(sl.Holders, func(h string) bool { return h == id })
		sl.Queue = slices.DeleteFunc(sl.Queue, func(h string) bool { return h == id })
	}
}

// act does what the state asks for: cancellations first, then slots, then the waves.
func (f *fleet) act(ctx workflow.Context) {
	if f.handingOver || f.s.Signers == nil {
		return
	}
	f.cancelChildren(ctx)
	f.grantSlots(ctx)
	f.advance(ctx)
	f.digestIfDue(ctx)
	f.watchIfDue(ctx)
}

// cancelChildren asks every child that is excluded, or all of them on abort, to stop, if it
// is still before its drop; RetireDatabase's own cancellation gives access back.
func (f *fleet) cancelChildren(ctx workflow.Context) {
	if !f.cancelDirty {
		return
	}
	f.cancelDirty = false
	for i := range f.s.Objects {
		c := &f.s.Objects[i]
		if !(c.Excluded || f.s.Aborted != nil) || !c.Started || c.Cancelled || c.Ended() || c.Phase.PastDrop() {
			continue
		}
		if c.RunID == "" {
			f.cancelDirty = true // its start is not settled yet: cancel it once it is
			continue
		}
		c.Cancelled = true
		f.send(ctx, "cancel "+c.Key(), workflow.RequestCancelExternalWorkflow(ctx, c.WorkflowID, c.RunID), func(err error) {
			if err != nil && !c.Ended() {
				// The only child that cannot be cancelled is one that no longer runs.
				c.Phase, c.Error = PhaseCancelled, cut("the fleet could not cancel it, it no longer runs: "+errorText(err), maxErrorText)
				f.childEnded(ctx, i)
			}
		})
	}
}

// grantSlots gives each connection's free slots to the children waiting for one, in the
// order they asked. A paused fleet grants none: children wait before their archive, their
// data whole, while people look at what failed.
func (f *fleet) grantSlots(ctx workflow.Context) {
	if f.s.Paused != nil || f.s.Aborted != nil {
		return
	}
	k := f.s.Request.Waves.PerConnection
	for s := range f.s.Slots {
		sl := &f.s.Slots[s]
		for len(sl.Queue) > 0 && len(sl.Holders) < k {
			id := sl.Queue[0]
			sl.Queue = sl.Queue[1:]
			c := &f.s.Objects[f.byID[id]]
			if c.Ended() || c.Cancelled || c.Excluded {
				continue
			}
			sl.Holders = append(sl.Holders, id)
			c.Slot = SlotHeld
			f.send(ctx, "grant "+c.Key(), workflow.SignalExternalWorkflow(ctx, c.WorkflowID, c.RunID, SignalFleetSlotGranted, nil), func(err error) {
				if err != nil {
					workflow.GetLogger(ctx).Warn("Could not grant a slot", "child", id, "error", err)
				}
			})
		}
	}
}

// send counts what was sent to a child and takes its outcome in when it is known.
func (f *fleet) send(ctx workflow.Context, what string, fut workflow.Future, then func(error)) {
	f.inflight++
	f.sent = true
	f.events += costSent
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	workflow.Go(dctx, func(gctx workflow.Context) {
		err := fut.Get(gctx, nil)
		f.inflight--
		f.handoverTask()
		if err != nil {
			workflow.GetLogger(ctx).Warn("Fleet could not "+what, "error", err)
		}
		then(err)
		f.changes++
	})
}

// advance moves the waves on: starts the current one once it may, starts its children, and
// ends it once every child it counts has reached done_when or ended.
func (f *fleet) advance(ctx workflow.Context) {
	for f.s.Current < len(f.s.Waves) {
		w := &f.s.Waves[f.s.Current]
		switch w.State {
		case WavePending:
			if f.s.Aborted != nil {
				for j := f.s.Current; j < len(f.s.Waves); j++ {
					if f.s.Waves[j].State == WavePending {
						f.s.Waves[j].State = WaveSkipped
					}
				}
				return
			}
			if f.allExcluded(w) {
				w.State = WaveSkipped
				f.next()
				continue
			}
			if (w.Number > 1 && w.Proceed == nil) || f.s.Paused != nil {
				return
			}
			w.State, w.StartedAt = WaveRunning, f.now(ctx)
			workflow.GetLogger(ctx).Info("Wave", "fleet", f.s.Request.Name, "wave", w.Number, "objects", len(w.Objects))
		case WaveRunning:
			if f.s.Aborted == nil && f.s.Paused == nil {
				f.startChildren(ctx, w)
			}
			f.markDone(ctx, w)
			if !f.settled(w) {
				return
			}
			w.DoneAt = f.now(ctx)
			w.State = WaveDone
			if f.s.Aborted != nil {
				w.State = WaveStopped
			}
			if !f.next() {
				return
			}
			if f.s.Aborted == nil {
				f.boundary = true // the next wave waits for its go, in a new run
				return
			}
		default:
			if !f.next() {
				return
			}
		}
	}
}

// next moves to the next wave, if there is one.
func (f *fleet) next() bool {
	if f.s.Current+1 >= len(f.s.Waves) {
		return false
	}
	f.s.Current++
	return true
}

func (f *fleet) allExcluded(w *FleetWave) bool {
	for _, k := range w.Objects {
		if !f.s.Objects[f.byKey[k]].Excluded {
			return false
		}
	}
	return true
}

// settled: every child of the wave that counts is done or ended; on abort, those never
// started count as settled too, since they never will be.
func (f *fleet) settled(w *FleetWave) bool {
	for _, k := range w.Objects {
		c := f.s.Objects[f.byKey[k]]
		switch {
		case c.Excluded, c.Done, c.Ended():
		case !c.Started && f.s.Aborted != nil:
		default:
			return false
		}
	}
	return true
}

// markDone marks the children of the wave that reached done_when.
func (f *fleet) markDone(ctx workflow.Context, w *FleetWave) {
	plan := f.s.Request.Waves
	now := f.now(ctx)
	for _, k := range w.Objects {
		c := &f.s.Objects[f.byKey[k]]
		if c.Done || c.Excluded {
			continue
		}
		var done bool
		switch {
		case c.Phase == PhaseDone:
			done = true
		case plan.DoneWhen == DoneObserved:
			done = c.Phase == PhaseArchive || (c.Phase.PastDrop() && !c.Ended()) ||
				(c.Phase == PhaseObserve && !c.ObserveSince.IsZero() && !now.Before(c.ObserveSince.Add(plan.ObservedFor)))
		default:
			done = c.Phase == PhaseVerify || c.Phase == PhaseRecord
		}
		if done {
			c.Done, c.DoneAt = true, now
		}
	}
}

// startChildren starts the wave's children that are not started yet, with at most
// fleetStartBatch starts in flight: each one that settles wakes the loop to start the next.
func (f *fleet) startChildren(ctx workflow.Context, w *FleetWave) {
	for _, k := range w.Objects {
		i := f.byKey[k]
		c := &f.s.Objects[i]
		if c.Started || c.Excluded || c.Ended() {
			continue
		}
		if f.starting >= fleetStartBatch {
			return
		}
		f.starting++
		c.Started, c.StartedAt, c.StartRun = true, f.now(ctx), f.s.RunCount
		f.inflight++
		f.sent = true
		f.events += costSent
		// Children are started under a context that cancelling the fleet does not cancel:
		// the fleet cancels each one itself, and only before its drop.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		cctx := workflow.WithChildOptions(dctx, f.childOptions(*c))
		fut := workflow.ExecuteChildWorkflow(cctx, WorkflowName, f.childRequest(*c))
		workflow.Go(dctx, func(gctx workflow.Context) {
			var ex workflow.Execution
			err := fut.GetChildWorkflowExecution().Get(gctx, &ex)
			f.inflight--
			f.starting--
			f.handoverTask()
			f.changes++
			if f.started(ctx, i, ex, err) {
				// The child's own end, if it comes while this run lasts; its report says
				// the same, and is the only word after a continue-as-new.
				var rec Record
				cerr := fut.Get(gctx, &rec)
				f.closed(ctx, i, rec, cerr)
			}
		})
	}
}

// started takes in whether the child started; one whose id is already running (another
// retirement or fleet holds the object) counts as failed.
func (f *fleet) started(ctx workflow.Context, i int, ex workflow.Execution, err error) bool {
	c := &f.s.Objects[i]
	if err == nil {
		if c.RunID == "" {
			c.RunID = ex.RunID
		}
		f.cancelDirty = f.cancelDirty || c.Excluded || f.s.Aborted != nil
		return true
	}
	msg := "not started: " + errorText(err)
	if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		msg = fmt.Sprintf("not started: %s is already running: another retirement or fleet holds %s", c.WorkflowID, c.Key())
	}
	c.Phase, c.Error, c.At = PhaseFailed, msg, f.now(ctx)
	f.childEnded(ctx, i)
	return false
}

func (f *fleet) childRequest(c FleetChild) Request {
	r := f.s.Request
	return Request{
		Connection: c.Connection, Object: c.Object, Reason: r.Reason, Owners: slices.Clone(c.Owners), Requester: r.Requester,
		Ticket: r.Ticket, Strategy: r.Strategy, SampleWindow: r.SampleWindow, ObserveWindow: r.ObserveWindow, Store: r.Store,
		Verify: r.Verify, Fleet: f.id,
		// The requester signed the fleet's start, not each child's: the child checks that
		// signature, and that this fleet is its parent (workflows/fleetchild.go).
		Proof: r.Proof, FleetSays: r.Says(),
	}
}

func (f *fleet) childOptions(c FleetChild) workflow.ChildWorkflowOptions {
	r := f.s.Request
	return workflow.ChildWorkflowOptions{
		// The object's own retirement id: an object is never in two fleets, or in a fleet
		// and a retirement of its own, at once.
		WorkflowID:            c.WorkflowID,
		TaskQueue:             f.queue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		// Children outlive the run that started them: the fleet continues as new.
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		// A cancelled child gives access back before it counts as ended.
		WaitForCancellation: true,
		StaticSummary:       fmt.Sprintf("Retire %s (%s), wave %d of fleet %s", c.Key(), r.Reason, c.Wave, r.Name),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			AttrFleet.ValueSet(r.Name),
			AttrConnection.ValueSet(c.Connection),
			AttrObject.ValueSet(c.Object),
			AttrReason.ValueSet(string(r.Reason)),
			AttrRequester.ValueSet(r.Requester),
			AttrOwners.ValueSet(c.Owners),
			AttrPhase.ValueSet(string(PhasePlan)),
		),
	}
}

// over: no wave will start anything any more, and every child that started has ended.
func (f *fleet) over() bool {
	if f.s.Signers == nil || f.inflight > 0 {
		return false
	}
	for _, w := range f.s.Waves {
		if w.State == WavePending || w.State == WaveRunning {
			return false
		}
	}
	for _, c := range f.s.Objects {
		if c.Started && !c.Ended() {
			return false
		}
	}
	return true
}

// handoverDue says why this run should continue as new, if it should: at a wave boundary,
// when the server suggests it, or when the history is long. A run that has done nothing yet
// never hands over, so a small limit cannot make runs chase each other.
func (f *fleet) handoverDue(ctx workflow.Context) string {
	if f.boundary {
		return fmt.Sprintf("wave %d done", f.s.Waves[f.s.Current-1].Number)
	}
	if f.length(ctx) < f.progress+20 {
		return ""
	}
	limit := f.s.ContinueAfterEvents
	if limit <= 0 {
		limit = DefaultContinueAfterEvents
	}
	info := workflow.GetInfo(ctx)
	switch n := f.length(ctx); {
	case info.GetContinueAsNewSuggested():
		return fmt.Sprintf("the server suggested it at %d events", n)
	case n >= limit:
		return fmt.Sprintf("%d events (limit %d)", n, limit)
	case info.GetCurrentHistorySize() >= maxRunBytes:
		return fmt.Sprintf("%s of history", BytesText(int64(info.GetCurrentHistorySize())))
	}
	return ""
}

// What things cost in history, for the estimate of a run's length where the server does not
// tell it (the test environment): what comes in is one event, what goes out a command and
// its outcome, and every time the main loop wakes there was a workflow task (3 events).
// Signals that come together share a task, as on a server.
const (
	costReceived = 1 // a signal, a child's close
	costSent     = 2 // a child started, a signal or cancellation sent
	costTimer    = 2
	costActivity = 3 + 3 // and the task its end wakes
	costTask     = 3
)

// length is this run's history length: the server's count, or this run's upper estimate.
func (f *fleet) length(ctx workflow.Context) int {
	return max(workflow.GetInfo(ctx).GetCurrentHistoryLength(), f.events)
}

// handover continues as new, carrying the whole state. It first lets everything in flight
// settle and sends nothing more, so that no start, grant or cancellation is half known. If
// this run started or told children anything, it then waits a moment: a child's answer to
// it is then read by this run rather than being the first thing the next one hears (in the
// test environment, an answer that came while the next run is being set up would find no
// handler). Last it reads every signal already delivered: unread ones would be lost with
// the run; any that comes later makes the server refuse this continue-as-new and run the
// task again with it.
func (f *fleet) handover(ctx workflow.Context, why string) (FleetStatus, error) {
	f.handingOver = true
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	_ = workflow.Await(dctx, func() bool { return f.inflight == 0 })
	if f.sent {
		_ = workflow.Sleep(dctx, handoverQuiet)
		f.events += costTimer + costTask
	}
	_ = workflow.Await(dctx, func() bool { return workflow.AllHandlersFinished(dctx) })
	f.drain(ctx)
	if ctx.Err() != nil && f.s.Aborted == nil {
		f.cancelled = true
		f.abort(FleetDecisionRecord{Decision: "cancel", By: "the fleet's workflow was cancelled", At: f.now(ctx)})
	}
	n := f.length(ctx)
	f.s.MaxEvents = max(f.s.MaxEvents, n)
	f.s.Runs = append(f.s.Runs, FleetRun{Run: f.run, Events: n, Wave: f.s.Waves[f.s.Current].Number, Reason: why, At: f.now(ctx)})
	if len(f.s.Runs) > maxFleetRuns {
		f.s.Runs = slices.Delete(f.s.Runs, 0, len(f.s.Runs)-maxFleetRuns)
	}
	workflow.GetLogger(ctx).Info("Fleet continues as new", "fleet", f.s.Request.Name, "reason", why, "events", n)
	return FleetStatus{}, workflow.NewContinueAsNewError(dctx, FleetWorkflowName, f.s)
}

// handoverTask counts the task an outcome wakes while the run hands over (the main loop's
// waits count their own).
func (f *fleet) handoverTask() {
	if f.handingOver {
		f.events += costTask
	}
}

// abort stops the fleet: nothing new starts, children before their drop are cancelled.
func (f *fleet) abort(rec FleetDecisionRecord) {
	if f.s.Aborted != nil {
		return
	}
	f.s.Aborted = &rec
	f.cancelDirty = true
	f.changes++
}

// finish writes the fleet record and ends.
func (f *fleet) finish(ctx workflow.Context) (FleetStatus, error) {
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	f.s.FinishedAt = f.now(ctx)
	var retired, failed, excluded, cancelled, never int
	for _, c := range f.s.Objects {
		switch {
		case c.Phase == PhaseDone:
			retired++
		case c.Excluded:
			excluded++
		case c.Failed:
			failed++
		case !c.Started:
			never++
		default:
			cancelled++
		}
	}
	counts := fmt.Sprintf("%d retired, %d failed, %d excluded", retired, failed, excluded)
	if a := f.s.Aborted; a != nil {
		f.s.Phase = FleetAborted
		f.s.Outcome = fmt.Sprintf("aborted by %s%s: %s, %d cancelled before their drop (access given back), %d never started",
			a.By, orEmpty(" — ", a.Note), counts, cancelled, never)
	} else {
		f.s.Phase, f.s.Outcome = FleetDone, "done: "+counts
	}
	if d := f.s.Digest; d != nil && len(d.Pending) > 0 {
		// The last children's outcomes, and anything still pending, before the record.
		f.sendDigest(ctx, "the fleet ended")
		_ = workflow.Await(ctx, func() bool { return !f.digesting })
	}
	n := f.length(ctx)
	f.s.MaxEvents = max(f.s.MaxEvents, n)
	if store := f.s.Signers.Store; store != "" {
		st := f.status(ctx)
		// Plain fields encode deterministically. Compact: for a thousand objects the record
		// is most of a payload (the activity may indent it).
		doc, _ := json.Marshal(st)
		opts := shortOptions
		opts.Summary = "Write the fleet record of " + f.s.Request.Name
		var keys activities.RecordLocation
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), ActivityWriteFleetRecord, FleetRecordInput{
			Store: store, Path: path.Join("fleets", f.s.Request.Name, f.s.FirstRunID) + "/", JSON: doc, Markdown: FleetMarkdown(st, true),
		}).Get(ctx, &keys); err != nil {
			workflow.GetLogger(ctx).Error("Could not write the fleet record", "error", err)
		} else {
			f.s.RecordKeys = &keys
		}
		f.events += costActivity
	}
	f.details(ctx)
	st := f.status(ctx)
	if f.cancelled {
		return st, temporal.NewCanceledError(f.s.Outcome)
	}
	return st, nil
}

// status is the fleet as the query, the result and the record show it.
func (f *fleet) status(ctx workflow.Context) FleetStatus {
	s := f.s
	req := s.Request
	req.Objects = nil
	st := FleetStatus{
		WorkflowID: f.id, RunID: f.run, Namespace: f.namespace, Request: req, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt,
		Signers: s.Signers, RequesterVerified: s.RequesterVerified, Waves: s.Waves, Objects: s.Objects, Decisions: s.Decisions,
		Failures: s.Failures, Paused: s.Paused, Aborted: s.Aborted, Slots: s.Slots, Outcome: s.Outcome, RecordKeys: s.RecordKeys,
		Events: f.length(ctx), RunCount: s.RunCount, Runs: s.Runs, Digest: s.Digest, WatchAt: s.WatchAt,
	}
	st.MaxEvents = max(s.MaxEvents, st.Events)
	if len(s.Waves) > 0 {
		st.Wave = s.Waves[s.Current].Number
	}
	st.Phase, st.Waiting = f.phase()
	st.Progress = f.progressText()
	return st
}

// phase is where the fleet stands, and what it waits for from a person, in words.
func (f *fleet) phase() (FleetPhase, string) {
	s := f.s
	switch {
	case s.Phase == FleetDone || s.Phase == FleetAborted:
		return s.Phase, ""
	case s.Signers == nil:
		return FleetPlanning, ""
	case s.Aborted != nil:
		return FleetAborting, ""
	case s.Paused != nil:
		return FleetPaused, fmt.Sprintf("resume (update %q) or abort: paused by %s%s", UpdateFleetResume, s.Paused.By, orEmpty(" — ", s.Paused.Note))
	}
	if w := s.Waves[s.Current]; w.State == WavePending && w.Number > 1 && w.Proceed == nil {
		return FleetWaiting, fmt.Sprintf("a proven go for wave %d of %d (%s, %d objects) from the requester or a DBA: update %q with wave %d",
			w.Number, len(s.Waves), w.Name, len(w.Objects), UpdateFleetProceed, w.Number)
	}
	return FleetRunning, ""
}

func (f *fleet) progressText() string {
	if len(f.s.Waves) == 0 {
		return ""
	}
	w := f.s.Waves[f.s.Current]
	var done, running, waiting int
	for _, k := range w.Objects {
		c := f.s.Objects[f.byKey[k]]
		switch {
		case c.Done || c.Ended() || c.Excluded:
			done++
		case c.Slot == SlotWaiting:
			waiting++
		case c.Started:
			running++
		}
	}
	return fmt.Sprintf("wave %d of %d (%s) %s: %d of %d settled, %d running, %d waiting for a slot; %d failed in all",
		w.Number, len(f.s.Waves), w.Name, w.State, done, len(w.Objects), running, waiting, len(f.s.Failures))
}

func (f *fleet) details(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, FleetMarkdown(f.status(ctx), false))
}

func (f *fleet) now(ctx workflow.Context) time.Time { return workflow.Now(ctx).UTC() }

// registerUpdates wires what people say to a running fleet. As for one retirement, the
// validator refuses before anything is written, and checks the proof of who decides against
// the keys the plan pinned; the handler records what the proof proved.
func (f *fleet) registerUpdates(ctx workflow.Context) error {
	type decide = func(workflow.Context, FleetDecision) (FleetDecisionRecord, error)
	type validate = func(workflow.Context, FleetDecision) error
	decision := func(name string, can func(FleetDecision) error, apply func(workflow.Context, FleetDecisionRecord)) (decide, validate) {
		return func(ctx workflow.Context, in FleetDecision) (FleetDecisionRecord, error) {
				if err := f.prove(ctx, name, &in.By, &in.Proven, in.Says()); err != nil {
					return FleetDecisionRecord{}, err
				}
				rec := FleetDecisionRecord{Decision: name, By: in.By, Note: strings.TrimSpace(in.Note), Wave: in.Wave, At: f.now(ctx), Verified: in.Verified}
				f.s.Decisions = append(f.s.Decisions, rec)
				apply(ctx, rec)
				f.acted(ctx)
				return rec, nil
			}, func(ctx workflow.Context, in FleetDecision) error {
				return firstError(f.canDecide(name, in.By), can(in), f.check(ctx, name, in.By, in.Proven, in.Says()))
			}
	}
	proceed, canProceed := decision(UpdateFleetProceed, f.canProceed, func(_ workflow.Context, rec FleetDecisionRecord) {
		f.s.Waves[f.s.Current].Proceed = &rec
	})
	pause, canPause := decision(UpdateFleetPause, f.canPause, func(_ workflow.Context, rec FleetDecisionRecord) { f.s.Paused = &rec })
	resume, canResume := decision(UpdateFleetResume, f.canResume, func(_ workflow.Context, _ FleetDecisionRecord) {
		f.s.Paused, f.s.BudgetFrom = nil, len(f.s.Failures)
	})
	abort, canAbort := decision(UpdateFleetAbort, f.canAbort, func(_ workflow.Context, rec FleetDecisionRecord) { f.abort(rec) })
	handlers := []struct {
		name               string
		handler, validator any
	}{
		{UpdateFleetProceed, proceed, canProceed},
		{UpdateFleetPause, pause, canPause},
		{UpdateFleetResume, resume, canResume},
		{UpdateFleetAbort, abort, canAbort},
		{UpdateFleetExclude, func(ctx workflow.Context, in FleetExclude) (FleetDecisionRecord, error) {
			if err := f.prove(ctx, UpdateFleetExclude, &in.By, &in.Proven, in.Says()); err != nil {
				return FleetDecisionRecord{}, err
			}
			key := strings.TrimSpace(in.Object)
			rec := FleetDecisionRecord{Decision: UpdateFleetExclude, By: in.By, Note: strings.TrimSpace(in.Reason), Object: key, At: f.now(ctx), Verified: in.Verified}
			f.s.Decisions = append(f.s.Decisions, rec)
			c := &f.s.Objects[f.byKey[key]]
			c.Excluded, c.ExcludedBy, c.ExcludeReason = true, in.By, rec.Note
			f.cancelDirty = true
			f.acted(ctx)
			return rec, nil
		}, func(ctx workflow.Context, in FleetExclude) error {
			return firstError(f.canDecide(UpdateFleetExclude, in.By), f.canExclude(in), f.check(ctx, UpdateFleetExclude, in.By, in.Proven, in.Says()))
		}},
	}
	for _, h := range handlers {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, h.name, h.handler, workflow.UpdateHandlerOptions{Validator: h.validator}); err != nil {
			return err
		}
	}
	return nil
}

func (f *fleet) acted(ctx workflow.Context) {
	f.events += 2 // accepted and completed; the loop's wake counts the task
	f.changes++
}

// canDecide: the fleet takes decisions once it knows who may make them, and until it ends;
// the requester and the DBAs of the owners directory make them.
func (f *fleet) canDecide(decision, by string) error {
	sg := f.s.Signers
	switch {
	case sg == nil:
		return fmt.Errorf("fleet %s is still in its plan: who may decide is known once the plan has read the owners directory; try again in a minute", f.s.Request.Name)
	case f.s.Phase == FleetDone || f.s.Phase == FleetAborted || f.over():
		return fmt.Errorf("fleet %s is over (%s); nothing more can be decided", f.s.Request.Name, orDash(f.s.Outcome))
	case strings.TrimSpace(by) == "":
		return fmt.Errorf("say who decides to %s: --as <name>", decision)
	}
	who := f.who(by)
	if SamePerson(who, sg.Requester) || SamePerson(who, f.s.Request.Requester) || slices.ContainsFunc(sg.DBAs, func(d string) bool { return SamePerson(d, who) }) {
		return nil
	}
	return fmt.Errorf("%s may not %s in fleet %s: its requester (%s) or a DBA of the owners directory (%s) may", by, decision, f.s.Request.Name,
		orDash(sg.Requester), orDash(strings.Join(sg.DBAs, ", ")))
}

func (f *fleet) canProceed(in FleetDecision) error {
	w := f.s.Waves[f.s.Current]
	switch {
	case f.s.Aborted != nil:
		return fmt.Errorf("fleet %s was aborted by %s; no wave starts any more", f.s.Request.Name, f.s.Aborted.By)
	case f.s.Paused != nil:
		return fmt.Errorf("fleet %s is paused (%s%s): resume it first", f.s.Request.Name, f.s.Paused.By, orEmpty(" — ", f.s.Paused.Note))
	case w.State != WavePending || w.Number == 1:
		return fmt.Errorf("fleet %s is not waiting for a go: wave %d (%s) is %s", f.s.Request.Name, w.Number, w.Name, w.State)
	case w.Proceed != nil:
		return fmt.Errorf("wave %d already has its go, from %s", w.Number, w.Proceed.By)
	case in.Wave != w.Number:
		return fmt.Errorf("the go is for wave %d, but fleet %s waits for the go of wave %d (%s, %d objects)", in.Wave, f.s.Request.Name, w.Number, w.Name, len(w.Objects))
	}
	return nil
}

func (f *fleet) canPause(in FleetDecision) error {
	switch {
	case f.s.Aborted != nil:
		return fmt.Errorf("fleet %s was aborted by %s", f.s.Request.Name, f.s.Aborted.By)
	case f.s.Paused != nil:
		return fmt.Errorf("fleet %s is already paused by %s", f.s.Request.Name, f.s.Paused.By)
	case strings.TrimSpace(in.Note) == "":
		return errors.New("say why the fleet pauses: --note")
	}
	return nil
}

func (f *fleet) canResume(FleetDecision) error {
	if f.s.Paused == nil {
		return fmt.Errorf("fleet %s is not paused", f.s.Request.Name)
	}
	if f.s.Aborted != nil {
		return fmt.Errorf("fleet %s was aborted by %s", f.s.Request.Name, f.s.Aborted.By)
	}
	return nil
}

func (f *fleet) canAbort(in FleetDecision) error {
	switch {
	case f.s.Aborted != nil:
		return fmt.Errorf("fleet %s is already aborted by %s", f.s.Request.Name, f.s.Aborted.By)
	case strings.TrimSpace(in.Note) == "":
		return errors.New("say why the fleet is aborted: --note")
	}
	return nil
}

func (f *fleet) canExclude(in FleetExclude) error {
	key := strings.TrimSpace(in.Object)
	i, ok := f.byKey[key]
	if !ok {
		return fmt.Errorf("%q is not an object of fleet %s (write connection/object as in its list)", key, f.s.Request.Name)
	}
	c := f.s.Objects[i]
	switch {
	case strings.TrimSpace(in.Reason) == "":
		return errors.New("say why the object is excluded: --reason")
	case c.Excluded:
		return fmt.Errorf("%s is already excluded by %s", key, c.ExcludedBy)
	case c.Phase.PastDrop():
		return fmt.Errorf("%s is already past its drop (%s); the way back is `retire restore` from its archive", key, c.Phase)
	case c.Ended():
		return fmt.Errorf("%s has already ended (%s)", key, c.Phase)
	}
	return nil
}

// verify checks a proof against the fleet's pinned keys, with the fleet's clock and the
// nonces spent in all its runs. Deterministic: validators and handlers both call it.
func (f *fleet) verify(ctx workflow.Context, decision, by string, p Proven, says string) (proof.Verified, error) {
	return f.s.Signers.Pins.Verify(p.Proof, proof.Expect{
		Decision: decision, Workflow: f.id, Run: f.run, Person: f.who(by), Says: says, Now: workflow.Now(ctx), Used: f.s.Nonces,
	})
}

// check is verify for validators.
func (f *fleet) check(ctx workflow.Context, decision, by string, p Proven, says string) error {
	if f.s.Signers == nil || strings.TrimSpace(by) == "" {
		return nil // canDecide says what is missing
	}
	_, err := f.verify(ctx, decision, by, p, says)
	return err
}

// prove is for handlers: as in a retirement (human.go), it checks again only what does not
// depend on the run or the clock, records the proven person and spends the nonce.
func (f *fleet) prove(ctx workflow.Context, decision string, by *string, p *Proven, says string) error {
	var v proof.Verified
	var err error
	if p.Proof == nil || p.Proof.Method == "" {
		v, err = f.verify(ctx, decision, *by, *p, says) // unproven (dev worker): nothing to decode
	} else {
		st, _ := decoded(p.Proof)
		v, err = f.s.Signers.Pins.Verify(p.Proof, proof.Expect{
			Decision: decision, Workflow: f.id, Run: st.Run, Person: f.who(*by), Says: says, Now: time.Unix(st.IssuedAt, 0), Used: f.s.Nonces,
		})
	}
	if err != nil {
		return err
	}
	*by, p.Verified = f.who(v.Person), &v
	if v.Nonce != "" {
		f.s.Nonces = append(f.s.Nonces, v.Nonce)
	}
	return nil
}

// who is the person's id as the owners directory has it.
func (f *fleet) who(name string) string {
	name = strings.TrimSpace(name)
	if f.s.Signers != nil {
		if p, ok := f.s.Signers.Pins.Person(name); ok {
			return p.ID
		}
	}
	return name
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary, and say so.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func orEmpty(prefix, s string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return prefix + s
}
