package main

// `retire fleet`: many databases retired the way a careful release goes out, as one
// RetireFleet workflow (workflows/fleet.go) that runs each object as its own RetireDatabase
// child, wave by wave: a beta wave first, then a proven go from a DBA, then the rest.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"gopkg.in/yaml.v3"

	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/proof"
	"github.com/dataretire/retire/workflows"
)

const fleetLong = `A fleet retires many databases (up to 1,000) the way a careful release goes out: a beta wave
first, one object per connection profile unless the file names them, then, once a DBA or the
requester gives a proven go, the others group by group. Each object is its own retirement
(workflow retire:<connection>:<database>) with its own plan, sampling, cut, observation,
owners' sign-off, archive, drop and record: the fleet adds no way around any of its gates.
The fleet paces them: at most per_connection of a server's retirements archive and drop at
once, and the fleet pauses once failure_budget children have failed.

The fleet is one workflow, retire-fleet:<name>, with the search attribute RetireFleet set to
its name on it and on every child: in the Temporal UI, RetireFleet = "<name>" lists them all.
It continues as new at every wave boundary (and whenever its history grows long), so its run
id changes: the deciding commands sign for the run current when they are sent.

Who may steer it (proceed, pause, resume, exclude, abort): its requester and the DBAs of the
worker's owners directory, pinned with their SSH keys when the fleet starts. Each decision is
signed with --sign-with like every other decision (see retire approve --help).`

const fleetExample = `  retire fleet start shop-fleet.yaml --sign-with ~/.ssh/id_ed25519
  retire fleet status shop-fleet
  retire fleet status shop-fleet --watch
  retire fleet proceed shop-fleet --as dba --note "beta looked fine" --sign-with ~/.ssh/id_ed25519
  retire fleet pause shop-fleet --as dba --note "CHG-9 freeze" --sign-with ~/.ssh/id_ed25519
  retire fleet exclude shop-fleet db2/billing --as dba --reason "still read by finance" --sign-with ~/.ssh/id_ed25519
  retire fleet abort shop-fleet --as dba --reason "wrong list" --sign-with ~/.ssh/id_ed25519`

func (a *app) fleetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "fleet",
		Short:   "Retire many databases in waves: a beta wave, a proven go, then the rest",
		Long:    fleetLong,
		Example: fleetExample,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		a.fleetStartCommand(),
		a.fleetStatusCommand(),
		a.fleetDecisionCommand(workflows.UpdateFleetProceed),
		a.fleetDecisionCommand(workflows.UpdateFleetPause),
		a.fleetDecisionCommand(workflows.UpdateFleetResume),
		a.fleetExcludeCommand(),
		a.fleetDecisionCommand(workflows.UpdateFleetAbort),
		a.fleetListCommand(),
	)
	return cmd
}

// fleetName reads the one argument <name> of the fleet commands.
func fleetName(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%s needs the fleet's <name>, e.g. `%s shop-fleet` (got %d argument(s))", cmd.CommandPath(), cmd.CommandPath(), len(args))
	}
	return nil
}

// ---------------------------------------------------------------------------------------
// The fleet file.

const fleetFileHelp = `The file (YAML; a key this list does not name is an error, so a typo never goes unnoticed):

  name: shop-fleet            # letters, digits, _ . -; the fleet's workflow is retire-fleet:<name>
  reason: decommission        # or migration, as for retire start
  ticket: CHG-1234            # optional, kept in every record
  requester: dba              # who asks (default $USER): your id in the owners directory
  objects:                    # in this order: it decides the waves
    - {connection: db1, object: shop}
    - {connection: db1, object: shop_old, owners: [bob@example.com]}   # owners: added to the directory's
    - {connection: db2, object: billing}
  sample: 3d                  # sampling window (default 3d); days (14d) or Go durations (36h, 30s)
  observe: 14d                # observation window (default 14d, at most 35d)
  strategy: revoke            # or rename (default revoke)
  verify: checksums           # or restore (default checksums)
  store: archive              # store profile of the worker (default: its default store)
  digest_every: 1h            # each person gets one digest of all their objects at most this often
                              # (default: the worker's, 1h; sooner when a deadline is near; at most 24h)
  waves:
    beta: [db1/shop, db2/billing]   # the first wave (default: the first object of each connection)
    group: per-connection     # the waves after it: all, one, n (groups of n) or per-connection (default)
    n: 10                     # for group n only
    done_when: dropped        # a child counts for its wave once dropped (default), or observed
    observed_for: 3d          # with done_when observed: after this long in its observation
    per_connection: 1         # at most this many of a connection's children archive and drop at once
    failure_budget: 1         # the fleet pauses once this many children failed (resume gives it again)`

// fleetFile is the YAML a DBA writes.
type fleetFile struct {
	Name      string            `yaml:"name"`
	Reason    string            `yaml:"reason"`
	Ticket    string            `yaml:"ticket"`
	Requester string            `yaml:"requester"`
	Objects   []fleetFileObject `yaml:"objects"`
	Sample    string            `yaml:"sample"`
	Observe   string            `yaml:"observe"`
	Strategy  string            `yaml:"strategy"`
	Verify    string            `yaml:"verify"`
	Store     string            `yaml:"store"`
	Waves     fleetFileWaves    `yaml:"waves"`

	// DigestEvery is the owners' digest interval as written, like the windows.
	DigestEvery string `yaml:"digest_every"`
}

type fleetFileObject struct {
	Connection string   `yaml:"connection"`
	Object     string   `yaml:"object"`
	Owners     []string `yaml:"owners"`
}

type fleetFileWaves struct {
	Beta          []string `yaml:"beta"`
	Group         string   `yaml:"group"`
	N             int      `yaml:"n"`
	DoneWhen      string   `yaml:"done_when"`
	ObservedFor   string   `yaml:"observed_for"`
	PerConnection int      `yaml:"per_connection"`
	FailureBudget int      `yaml:"failure_budget"`
}

// fileKeys are the keys each part of the file knows, for the error about one it does not.
var fileKeys = map[string]struct{ where, keys string }{
	"fleetFile":       {"at the top level", "name, reason, ticket, requester, objects, sample, observe, strategy, verify, store, digest_every, waves"},
	"fleetFileObject": {"in an object", "connection, object, owners"},
	"fleetFileWaves":  {"in waves", "beta, group, n, done_when, observed_for, per_connection, failure_budget"},
}

// typeNames says the file's parts in the file's words in yaml's own errors.
var typeNames = strings.NewReplacer("main.fleetFileObject", "an object", "main.fleetFileWaves", "waves",
	"main.fleetFile", "a fleet (a mapping: name, reason, objects, ...)")

var unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type main\.(\w+)$`)

// fileLines are where the parts of the file are, so that an error says which line to fix.
type fileLines struct {
	top     map[string]int
	waves   map[string]int
	objects []int
	beta    []int
}

func linesOf(data []byte) fileLines {
	l := fileLines{top: map[string]int{}, waves: map[string]int{}}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return l
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		l.top[k.Value] = k.Line
		switch {
		case k.Value == "objects" && v.Kind == yaml.SequenceNode:
			for _, o := range v.Content {
				l.objects = append(l.objects, o.Line)
			}
		case k.Value == "waves" && v.Kind == yaml.MappingNode:
			for j := 0; j+1 < len(v.Content); j += 2 {
				wk, wv := v.Content[j], v.Content[j+1]
				l.waves[wk.Value] = wk.Line
				if wk.Value == "beta" && wv.Kind == yaml.SequenceNode {
					for _, b := range wv.Content {
						l.beta = append(l.beta, b.Line)
					}
				}
			}
		}
	}
	return l
}

var (
	objectProblem = regexp.MustCompile(`^object (\d+) `)
	betaProblem   = regexp.MustCompile(`^beta object "?([^" ]+)"? `)
	twiceProblem  = regexp.MustCompile(`^(\S+/\S+) is listed twice`)
)

// line is where the problem msg (one of FleetRequest.Validate's) sits in the file, or 0.
func (l fileLines) line(msg string, f fleetFile) int {
	if m := objectProblem.FindStringSubmatch(msg); m != nil {
		if i, _ := strconv.Atoi(m[1]); i >= 1 && i <= len(l.objects) {
			return l.objects[i-1]
		}
	}
	if m := betaProblem.FindStringSubmatch(msg); m != nil {
		last := 0
		for i, b := range f.Waves.Beta {
			if strings.TrimSpace(b) == m[1] && i < len(l.beta) {
				last = l.beta[i] // listed twice: the second one is the mistake
				if !strings.Contains(msg, "twice") {
					return last
				}
			}
		}
		if last != 0 {
			return last
		}
	}
	if m := twiceProblem.FindStringSubmatch(msg); m != nil {
		last := 0
		for i, o := range f.Objects {
			if strings.TrimSpace(o.Connection)+"/"+strings.TrimSpace(o.Object) == m[1] && i < len(l.objects) {
				last = l.objects[i]
			}
		}
		return last
	}
	for _, p := range []struct{ prefix, key string }{
		{"fleet name", "name"}, {"reason", "reason"}, {"requester", "requester"}, {"strategy", "strategy"},
		{"verify", "verify"}, {"store", "store"}, {"observation window", "observe"}, {"the fleet has", "objects"}, {"digest_every", "digest_every"},
	} {
		if strings.HasPrefix(msg, p.prefix) {
			return l.top[p.key]
		}
	}
	for _, p := range []struct{ prefix, key string }{
		{"group", "group"}, {"n=", "n"}, {"done_when", "done_when"}, {"observed_for", "observed_for"},
		{"per_connection", "per_connection"}, {"failure_budget", "failure_budget"},
	} {
		if strings.HasPrefix(msg, p.prefix) {
			return l.waves[p.key]
		}
	}
	return 0
}

// parseFleetFile reads a fleet file strictly and checks it as the workflow will: every
// problem at once, each with its line, in one error that names the file.
func parseFleetFile(file string, data []byte, getenv func(string) string) (workflows.FleetRequest, error) {
	fail := func(problems []string) error {
		return fmt.Errorf("%s: %s", file, strings.Join(problems, "; "))
	}
	var f fleetFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return workflows.FleetRequest{}, fail([]string{"the file is empty; it needs at least a name, a reason and objects (see retire fleet start --help)"})
		}
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return workflows.FleetRequest{}, fail([]string{"not YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")})
		}
		var problems []string
		for _, e := range te.Errors {
			if m := unknownField.FindStringSubmatch(e); m != nil {
				k := fileKeys[m[3]]
				problems = append(problems, fmt.Sprintf("line %s: unknown key %q %s (known: %s)", m[1], m[2], k.where, k.keys))
				continue
			}
			problems = append(problems, typeNames.Replace(e))
		}
		return workflows.FleetRequest{}, fail(problems)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return workflows.FleetRequest{}, fail([]string{"holds more than one YAML document (---): one fleet per file"})
	}
	lines := linesOf(data)
	at := func(line int, msg string) string {
		if line > 0 {
			return fmt.Sprintf("line %d: %s", line, msg)
		}
		return msg
	}

	var problems []string
	req := workflows.FleetRequest{
		Name: f.Name, Reason: workflows.Reason(f.Reason), Ticket: f.Ticket, Requester: f.Requester,
		Strategy: engine.Strategy(f.Strategy), Verify: f.Verify, Store: f.Store,
		Waves: workflows.WavePlan{Beta: f.Waves.Beta, Group: f.Waves.Group, N: f.Waves.N, DoneWhen: f.Waves.DoneWhen,
			PerConnection: f.Waves.PerConnection, FailureBudget: f.Waves.FailureBudget},
	}
	for _, o := range f.Objects {
		req.Objects = append(req.Objects, workflows.FleetObject{Connection: o.Connection, Object: o.Object, Owners: o.Owners})
	}
	noRequester := strings.TrimSpace(req.Requester) == ""
	if noRequester {
		req.Requester = getenv("USER")
		if strings.TrimSpace(req.Requester) == "" {
			problems = append(problems, "say who asks: requester: <your id in the owners directory> ($USER is not set)")
		} else {
			noRequester = false
		}
	}
	if f.Name == "" {
		problems = append(problems, "say what the fleet is called: name: <letters, digits, _ . ->")
	}
	if f.Reason == "" {
		problems = append(problems, "say why: reason: decommission (systems shut down, owners sign off) or reason: migration (data lives on elsewhere)")
	}
	for _, w := range []struct {
		key, text string
		line      int
		into      *time.Duration
	}{
		{"sample", f.Sample, lines.top["sample"], &req.SampleWindow},
		{"observe", f.Observe, lines.top["observe"], &req.ObserveWindow},
		{"waves.observed_for", f.Waves.ObservedFor, lines.waves["observed_for"], &req.Waves.ObservedFor},
		{"digest_every", f.DigestEvery, lines.top["digest_every"], &req.DigestEvery},
	} {
		if w.text == "" {
			continue
		}
		d, err := workflows.ParseDays(strings.TrimSpace(w.text))
		switch {
		case err != nil:
			problems = append(problems, at(w.line, w.key+": "+err.Error()))
		case d <= 0 && w.key != "waves.observed_for":
			problems = append(problems, at(w.line, w.key+" must be longer than 0; leave it out for the default"))
		default:
			*w.into = d
		}
	}
	req = req.WithDefaults()
	for _, err := range flatten(req.Validate()) {
		msg := err.Error()
		// Already said above, in the file's words.
		if (noRequester && strings.HasPrefix(msg, `requester ""`)) || (f.Reason == "" && strings.HasPrefix(msg, `reason ""`)) ||
			(f.Name == "" && strings.HasPrefix(msg, `fleet name ""`)) {
			continue
		}
		problems = append(problems, at(lines.line(msg, f), msg))
	}
	for i, o := range req.Objects {
		if rule := systemObject(o.Object); rule != "" {
			line := 0
			if i < len(lines.objects) {
				line = lines.objects[i]
			}
			problems = append(problems, at(line, fmt.Sprintf("object %d (%s): %s", i+1, o.Key(), rule)))
		}
	}
	if len(problems) > 0 {
		return req, fail(problems)
	}
	return req, nil
}

// ---------------------------------------------------------------------------------------
// retire fleet start

type fleetStartFlags struct {
	check, noWait bool
	planTimeout   time.Duration
	sign          signFlags
}

func (a *app) fleetStartCommand() *cobra.Command {
	var f fleetStartFlags
	cmd := &cobra.Command{
		Use:   "start <file.yaml> [--sign-with KEY]",
		Short: "Start a fleet from a file: the waves are planned, the beta wave starts",
		Long: `Start the fleet the file describes. The file is checked here first, strictly (an unknown
key, a bad window, an object listed twice, a beta object not in the list: every problem at
once, each with its line), then the worker plans the fleet: it reads who may steer it from
its owners directory (the requester and the DBAs, with their SSH keys) and checks the
requester's proof. start waits for that plan (--plan-timeout) and prints the waves; a fleet
the plan refuses is one error line instead (exit status 1), and nothing was started.

Then the beta wave starts at once: each of its objects is a retirement of its own, whose
owners sign off as for any other (retire approve <connection> <database>). Once every child
of the wave is done (dropped, or observed long enough: done_when), the fleet waits for a
proven go before the next wave: retire fleet proceed <name>.

--sign-with (or RETIRE_SIGN_WITH) proves who the requester is: the statement "fleet-start"
for workflow retire-fleet:<name>, with everything in the file that changes what happens
(the objects and the beta list by their SHA-256), is signed with that SSH key (a private key
file, or a .pub file whose key ssh-agent holds) for the requester as the file names them. A
worker that requires proof refuses an unsigned fleet; a dev worker records "identity not
verified". The children take the requester's proof of the fleet as their own.

` + fleetFileHelp,
		Example: `  retire fleet start shop-fleet.yaml --sign-with ~/.ssh/id_ed25519
  retire fleet start shop-fleet.yaml --check          # check the file and print the waves; start nothing
  retire fleet start shop-fleet.yaml --sign-with ~/.ssh/id_ed25519.pub --no-wait   # key in ssh-agent`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("%s needs the fleet file, e.g. `%s shop-fleet.yaml` (got %d argument(s))", cmd.CommandPath(), cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.fleetStart(cmd.Context(), f, args[0])
		},
	}
	cmd.Flags().BoolVar(&f.check, "check", false, "check the file and print the waves it plans; start nothing")
	cmd.Flags().BoolVar(&f.noWait, "no-wait", false, "return once started, without waiting for the plan")
	cmd.Flags().DurationVar(&f.planTimeout, "plan-timeout", 5*time.Minute, "how long to wait for the plan")
	cmd.Flags().StringVar(&f.sign.with, "sign-with", "", "SSH key that proves who the requester is: an OpenSSH private key file, or a .pub file whose key ssh-agent holds (env RETIRE_SIGN_WITH)")
	return cmd
}

func fleetStartOptions(req workflows.FleetRequest) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:        workflows.FleetWorkflowID(req.Name),
		TaskQueue: workflows.TaskQueue,
		// One running fleet per name; a new one may follow a finished one.
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            fmt.Sprintf("Retire fleet %s: %d objects (%s)", req.Name, len(req.Objects), req.Reason),
		TypedSearchAttributes:                    temporal.NewSearchAttributes(workflows.AttrFleet.ValueSet(req.Name)),
	}
}

// signFleetStart is the requester's proof of the fleet. No run exists yet and the directory
// id is only known to the plan, so it is signed for the requester as the file names them.
func (a *app) signFleetStart(sf signFlags, req workflows.FleetRequest) (*proof.Proof, error) {
	path := sf.path(a.getenv)
	if path == "" {
		return nil, nil
	}
	key, err := a.loadKey(path)
	if err != nil {
		return nil, err
	}
	defer key.release()
	return signStatement(key.signer, a.now(), proof.Statement{
		Decision: workflows.DecisionFleetStart, Workflow: workflows.FleetWorkflowID(req.Name),
		Person: strings.TrimSpace(req.Requester), Says: req.WithDefaults().Says(),
	})
}

func (a *app) fleetStart(ctx context.Context, f fleetStartFlags, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("cannot read the fleet file: %v", err)
	}
	req, err := parseFleetFile(file, data, a.getenv)
	if err != nil {
		return fmt.Errorf("cannot start the fleet: %w", err)
	}
	if f.check {
		waves, err := workflows.PlanWaves(req)
		if err != nil {
			return fmt.Errorf("cannot start the fleet: %s: %v", file, oneLine(err.Error()))
		}
		fmt.Fprintf(a.out, "%s is a valid fleet: %s in %s; nothing was started\n", file, plural(len(req.Objects), "object", "objects"), plural(len(waves), "wave", "waves"))
		writeWaves(a.out, waves)
		return nil
	}
	if req.Proof, err = a.signFleetStart(f.sign, req); err != nil {
		return err
	}
	c, err := a.temporal()
	if err != nil {
		return err
	}
	id := workflows.FleetWorkflowID(req.Name)
	rctx, cancel := a.rpc(ctx)
	run, err := c.ExecuteWorkflow(rctx, fleetStartOptions(req), workflows.FleetWorkflowName, workflows.FleetState{Request: req})
	cancel()
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &already):
		return fmt.Errorf("a fleet named %s is already running (workflow %s); see `retire fleet status %s`", req.Name, id, req.Name)
	case isTimeout(err):
		return fmt.Errorf("Temporal did not answer within %s; check TEMPORAL_ADDRESS or raise --timeout", a.timeout)
	case err != nil:
		return fmt.Errorf("cannot start fleet %s: %s", req.Name, explain(fleetAttributeHint(err)))
	}
	started := func() {
		fmt.Fprintf(a.out, "started fleet %s (workflow %s, run %s): %s\n", req.Name, id, run.GetRunID(), plural(len(req.Objects), "object", "objects"))
	}
	if f.noWait {
		started()
		fmt.Fprintf(a.out, "next: follow it with `retire fleet status %s`\n", req.Name)
		return nil
	}
	st, err := a.awaitFleetPlan(ctx, c, req.Name, run.GetRunID(), f.planTimeout)
	var notReady *planNotReady
	if errors.As(err, &notReady) {
		started()
	}
	if err != nil {
		return err
	}
	started()
	printFleetPlan(a.out, st)
	fmt.Fprintf(a.out, "next: %s\n", fleetNext(st))
	return nil
}

// fleetAttributeHint is searchAttributeHint with the fleet's own attribute.
func fleetAttributeHint(err error) error {
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) && strings.Contains(strings.ToLower(invalid.Message), "search attribute") {
		return fmt.Errorf("%s: register the fleet's search attribute once per namespace: `temporal operator search-attribute create --type Keyword --name RetireFleet` (and those of retire start --help)", invalid.Message)
	}
	return err
}

// awaitFleetPlan polls until the fleet has left its plan (it knows who may decide and its
// beta wave is under way) or its run has closed: refused.
func (a *app) awaitFleetPlan(ctx context.Context, c temporalAPI, name, runID string, limit time.Duration) (workflows.FleetStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	id := workflows.FleetWorkflowID(name)
	var lastQueryErr error
	var lastDesc *execution
	for {
		desc, err := a.describe(ctx, c, id, runID)
		if err == nil {
			lastDesc = desc
			switch {
			case desc.Status == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
				// The plan went through and the first wave too, already: read the run now.
				if st, qerr := a.queryFleet(ctx, c, id, ""); qerr == nil {
					return st, nil
				}
			case desc.closed():
				st, runErr := a.closedFleet(ctx, c, id, desc.RunID, desc)
				if runErr == nil && st.Phase == workflows.FleetDone {
					return st, nil
				}
				why := orDash(explainFleetError(st, runErr))
				if st.Signers == nil {
					return st, fmt.Errorf("cannot start fleet %s: %s (refused in the plan; nothing was started)", name, why)
				}
				return st, fmt.Errorf("fleet %s ended (%s): %s", name, strings.ToLower(desc.Status.String()), why)
			default:
				st, qerr := a.queryFleet(ctx, c, id, runID)
				lastQueryErr = qerr
				if qerr == nil && st.Phase != "" && st.Phase != workflows.FleetPlanning && st.Phase != workflows.FleetAborted {
					return st, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return workflows.FleetStatus{}, fleetPlanTimeout(name, limit, lastDesc, lastQueryErr)
		case <-time.After(a.pollEvery):
		}
	}
}

func fleetPlanTimeout(name string, limit time.Duration, desc *execution, queryErr error) error {
	return notReady(fmt.Sprintf("the fleet's plan is not ready after %s; the fleet goes on, follow it with `retire fleet status %s`", limit, name), desc, queryErr)
}

func explainFleetError(st workflows.FleetStatus, err error) string {
	if err != nil {
		return explain(err)
	}
	return strings.TrimPrefix(st.Outcome, "not started: ")
}

func printFleetPlan(w io.Writer, st workflows.FleetStatus) {
	req := st.Request
	fmt.Fprintf(w, "plan of fleet %s: %s in %s\n", req.Name, plural(len(st.Objects), "object", "objects"), plural(len(st.Waves), "wave", "waves"))
	fmt.Fprintf(w, "  requester: %s\n", fleetRequesterText(st))
	if sg := st.Signers; sg != nil {
		fmt.Fprintf(w, "  dbas: %s (may proceed, pause, resume, exclude and abort, as may the requester)\n", orDash(strings.Join(sg.DBAs, ", ")))
		if sg.Store != "" {
			fmt.Fprintf(w, "  store: %s (the archives and the fleet record)\n", sg.Store)
		}
	}
	fmt.Fprintf(w, "  pacing: %s\n", pacingText(req))
	writeWaves(w, st.Waves)
}

// writeWaves prints the waves planned: number, name, and every object, the list wrapped
// under its column (a wave of a thousand is a paragraph, not a line of 30,000 columns).
func writeWaves(w io.Writer, waves []workflows.FleetWave) {
	fmt.Fprintln(w, "waves:")
	numW, nameW := len("WAVE"), len("NAME")
	for _, wv := range waves {
		numW, nameW = max(numW, len(strconv.Itoa(wv.Number))), max(nameW, len(wv.Name))
	}
	indent := 2 + numW + 2 + nameW + 2
	fmt.Fprintf(w, "  %-*s  %-*s  OBJECTS\n", numW, "WAVE", nameW, "NAME")
	for _, wv := range waves {
		lines := wrapList(wv.Objects, max(40, 100-indent))
		fmt.Fprintf(w, "  %-*d  %-*s  %s\n", numW, wv.Number, nameW, wv.Name, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "%*s%s\n", indent, "", l)
		}
	}
}

// wrapList joins items with ", " into lines of about width columns (an item longer than
// width has a line of its own).
func wrapList(items []string, width int) []string {
	lines := []string{""}
	for i, it := range items {
		if i < len(items)-1 {
			it += ","
		}
		last := &lines[len(lines)-1]
		switch {
		case *last == "":
			*last = it
		case len(*last)+1+len(it) > width:
			lines = append(lines, it)
		default:
			*last += " " + it
		}
	}
	return lines
}

func pacingText(req workflows.FleetRequest) string {
	w := req.WithDefaults().Waves
	then := "then " + w.Group
	switch w.Group {
	case workflows.GroupAll:
		then = "then all the others in one wave"
	case workflows.GroupOne:
		then = "then one object per wave"
	case workflows.GroupN:
		then = fmt.Sprintf("then waves of %d", w.N)
	case workflows.GroupPerConnection:
		then = "then one wave per connection"
	}
	done := "once dropped"
	if w.DoneWhen == workflows.DoneObserved {
		done = "once observed for " + days(w.ObservedFor)
	}
	text := fmt.Sprintf("beta first, %s; a child counts for its wave %s; at most %d per connection in archive or drop; the fleet pauses after %s",
		then, done, w.PerConnection, plural(w.FailureBudget, "failure", "failures"))
	if req.DigestEvery > 0 {
		text += "; owners' digests at most every " + days(req.DigestEvery)
	}
	return text
}

func fleetRequesterText(st workflows.FleetStatus) string {
	who := st.Request.Requester
	if st.Signers != nil && st.Signers.Requester != "" {
		who = st.Signers.Requester
	}
	return provenBy(who, st.RequesterVerified)
}

// fleetSignoff is text, unless the fleet's reason needs no sign-off (a migration).
func fleetSignoff(st workflows.FleetStatus, text string) string {
	if st.Request.Reason == workflows.ReasonMigration {
		return ""
	}
	return text
}

// fleetNext says what happens now and what is expected of people.
func fleetNext(st workflows.FleetStatus) string {
	name := st.Request.Name
	follow := fmt.Sprintf("; follow it with `retire fleet status %s`", name)
	proceed := fmt.Sprintf("`retire fleet proceed %s --as <requester or DBA> --sign-with <key>`", name)
	switch st.Phase {
	case workflows.FleetRunning:
		if w, ok := currentWave(st); ok && w.Number == 1 {
			s := fmt.Sprintf("the beta wave (%s) starts now", plural(len(w.Objects), "object", "objects")) + fleetSignoff(st, "; each retirement waits for its owners' sign-off (`retire approve <connection> <database>`)")
			if len(st.Waves) > 1 {
				return s + "; after it, " + proceed + " starts wave 2" + follow
			}
			return s + "; it is the only wave, and the fleet ends after it" + follow
		}
		if w, ok := currentWave(st); ok {
			return fmt.Sprintf("wave %d of %d (%s) runs", w.Number, len(st.Waves), w.Name) + follow
		}
		return "running" + follow
	case workflows.FleetWaiting:
		w, _ := currentWave(st)
		return fmt.Sprintf("wave %d of %d (%s, %s) waits for a proven go: %s", w.Number, len(st.Waves), w.Name, plural(len(w.Objects), "object", "objects"), proceed)
	case workflows.FleetPaused:
		return fmt.Sprintf("paused (%s): look at what failed, then `retire fleet resume %s --as <requester or DBA>` or `retire fleet abort %s`", st.Paused.By, name, name)
	case workflows.FleetAborting:
		return "aborting: children before their drop are being cancelled and give access back" + follow
	case workflows.FleetPlanning:
		return "planning" + follow
	}
	return "nothing: " + orDash(st.Outcome)
}

func currentWave(st workflows.FleetStatus) (workflows.FleetWave, bool) {
	for _, w := range st.Waves {
		if w.Number == st.Wave {
			return w, true
		}
	}
	return workflows.FleetWave{}, false
}

// ---------------------------------------------------------------------------------------
// Reading a fleet.

func (a *app) queryFleet(ctx context.Context, c temporalAPI, id, runID string) (workflows.FleetStatus, error) {
	rctx, cancel := a.rpc(ctx)
	defer cancel()
	var st workflows.FleetStatus
	v, err := c.QueryWorkflow(rctx, id, runID, workflows.QueryFleetStatus)
	if err != nil {
		return st, err
	}
	err = v.Get(&st)
	return st, err
}

// closedFleet reads a fleet whose run has closed: its result when it completed, else the
// query (a worker replays it), else what Temporal's description says. runErr is how the run
// ended, if not completed.
func (a *app) closedFleet(ctx context.Context, c temporalAPI, id, runID string, desc *execution) (workflows.FleetStatus, error) {
	rctx, cancel := a.rpc(ctx)
	var st workflows.FleetStatus
	runErr := c.GetWorkflow(rctx, id, runID).Get(rctx, &st)
	cancel()
	if runErr == nil && desc.Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		return st, nil
	}
	if q, err := a.queryFleet(ctx, c, id, runID); err == nil {
		st = q
	} else {
		st = workflows.FleetStatus{WorkflowID: id, RunID: desc.RunID, StartedAt: desc.Start, FinishedAt: desc.Close,
			Request: workflows.FleetRequest{Name: keyword[string](desc.attrs, workflows.AttrFleet.GetName())}}
	}
	if st.Phase != workflows.FleetDone && st.Phase != workflows.FleetAborted {
		st.Phase = workflows.FleetAborted
		if st.Outcome == "" {
			st.Outcome = strings.ToLower(desc.Status.String())
			if runErr != nil {
				st.Outcome += ": " + explain(runErr)
			}
		}
	}
	return st, runErr
}

// fleetView is a fleet as status shows it: the workflow's status and what only Temporal
// knows. -o json prints the FleetStatus alone.
type fleetView struct {
	workflows.FleetStatus
	execution string
	note      string
}

func (a *app) loadFleet(ctx context.Context, c temporalAPI, name string) (fleetView, error) {
	id := workflows.FleetWorkflowID(name)
	desc, err := a.describe(ctx, c, id, "")
	switch {
	case isNotFound(err):
		return fleetView{}, fmt.Errorf("no fleet named %s found (workflow %s); see `retire fleet list --all`", name, id)
	case isTimeout(err):
		return fleetView{}, fmt.Errorf("Temporal did not answer within %s; check TEMPORAL_ADDRESS or raise --timeout", a.timeout)
	case err != nil:
		return fleetView{}, fmt.Errorf("cannot read fleet %s: %s", name, explain(err))
	}
	v := fleetView{execution: desc.Status.String()}
	if desc.closed() {
		st, _ := a.closedFleet(ctx, c, id, desc.RunID, desc)
		v.FleetStatus = st
		if st.Signers == nil && len(st.Objects) == 0 && st.Outcome != "" && !strings.Contains(st.Outcome, "not started") {
			v.note = "no worker answered the status query, so only what Temporal records is shown"
		}
		return v, nil
	}
	st, err := a.queryFleet(ctx, c, id, desc.RunID)
	if err != nil {
		v.FleetStatus = workflows.FleetStatus{WorkflowID: id, RunID: desc.RunID, StartedAt: desc.Start, Request: workflows.FleetRequest{Name: name}}
		if isTimeout(err) {
			v.note = fmt.Sprintf("the fleet did not answer the status query within %s: is a retire-worker running on task queue %q?", a.timeout, workflows.TaskQueue)
		} else {
			v.note = "the fleet did not answer the status query: " + explain(err)
		}
		return v, nil
	}
	v.FleetStatus = st
	return v, nil
}

// ---------------------------------------------------------------------------------------
// retire fleet status

const fleetStatusLong = `Show where a fleet stands. The first line is "phase: <phase>" (plan, running, waiting,
paused, aborting, done, aborted); the second, while the fleet waits for a person, is
"waiting: <what>", and "next:" says which command gives it.

Then the fleet's people (the requester and the DBAs, and how the requester was proven), the
pacing, the failures against the failure budget, who paused or aborted it, the slots of each
connection (who archives or drops now, who waits for a slot), how long its histories are
(events of this run, the longest of any run, and the runs it handed over to), and its
record once it has ended. The objects table lists every object by wave and phase: what its
retirement waits for (an owner's sign-off, an acknowledgement, a slot) and how it ended.
What an object waits for is done on the object's own retirement, e.g.
  retire approve <connection> <database> --as <owner> --sign-with <key>

-o json prints the fleet's status as the workflow reports it (FleetStatus): workflow_id,
run_id, request (without its objects), phase, waiting, progress, started_at, finished_at,
signers (requester, dbas, pins, store), requester_verified, wave, waves (number, name,
objects, state, proceed, started_at, done_at), objects (connection, object, owners, wave,
workflow_id, run_id, started, phase, waiting, outcome, error, archive, record, done, slot,
excluded, cancelled, failed, ...), decisions, failures, paused, aborted, slots, outcome,
record_keys, events, max_events, run_count, runs.

--watch reads it again every --interval until the fleet ends or Ctrl-C: redrawn in place on
a terminal, one line per change when piped, one compact JSON object per change with -o json.`

func (a *app) fleetStatusCommand() *cobra.Command {
	var out output
	var watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "status <name>",
		Short: "Show where a fleet stands: its waves, each object's phase, what it waits for, failures, slots",
		Long:  fleetStatusLong,
		Example: `  retire fleet status shop-fleet
  retire fleet status shop-fleet --watch
  retire fleet status shop-fleet -o json | jq '.objects[] | {object, wave, phase, waiting}'`,
		Args: fleetName,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := watchFlags(cmd, watch, interval); err != nil {
				return err
			}
			c, err := a.temporal()
			if err != nil {
				return err
			}
			if watch {
				return a.watchFleet(cmd.Context(), c, args[0], out, interval)
			}
			v, err := a.loadFleet(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			if out == outputJSON {
				if v.note != "" {
					fmt.Fprintf(a.errOut, "note: %s\n", v.note)
				}
				return writeJSON(a.out, v.FleetStatus)
			}
			renderFleet(a.out, v)
			return nil
		},
	}
	addOutputFlag(cmd, &out)
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "keep showing the status until the fleet ends (Ctrl-C stops watching)")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "with --watch: how often the status is read again")
	return cmd
}

// renderFleet is the text of `retire fleet status`; its first lines are "phase:" and, when
// a person is awaited, "waiting:" and "next:".
func renderFleet(w io.Writer, v fleetView) {
	st := v.FleetStatus
	req := st.Request
	line := func(k, val string) {
		if val != "" {
			fmt.Fprintf(w, "%s: %s\n", k, val)
		}
	}
	line("phase", orDash(string(st.Phase)))
	line("waiting", st.Waiting)
	if st.Phase == workflows.FleetWaiting || st.Phase == workflows.FleetPaused {
		line("next", fleetNext(st))
	}
	line("outcome", st.Outcome)
	line("note", v.note)
	run := st.RunID
	if v.execution != "" {
		run += ", " + v.execution
	}
	line("fleet", fmt.Sprintf("%s (workflow %s, run %s)", orDash(req.Name), orDash(st.WorkflowID), orDash(run)))
	line("now", st.Progress)
	line("reason", string(req.Reason))
	if req.Requester != "" || st.Signers != nil {
		line("requester", fleetRequesterText(st))
	}
	if sg := st.Signers; sg != nil {
		line("dbas", orDash(strings.Join(sg.DBAs, ", "))+" (may proceed, pause, resume, exclude and abort, as may the requester)")
		line("store", sg.Store)
	}
	line("ticket", req.Ticket)
	if req.Reason != "" {
		line("windows", fmt.Sprintf("sampling %s, observation %s, strategy %s, verify %s", days(req.SampleWindow), days(req.ObserveWindow), req.Strategy, req.Verify))
		line("pacing", pacingText(req))
	}
	line("started", stamp(st.StartedAt))
	line("finished", stamp(st.FinishedAt))
	if req.Reason != "" {
		line("failures", failureText(st))
	}
	if p := st.Paused; p != nil {
		line("paused", fmt.Sprintf("by %s at %s%s", provenBy(p.By, p.Verified), stamp(p.At), said(p.Note)))
	}
	if ab := st.Aborted; ab != nil {
		line("aborted", fmt.Sprintf("by %s at %s%s", provenBy(ab.By, ab.Verified), stamp(ab.At), said(ab.Note)))
	}
	keyOf := map[string]string{}
	for _, c := range st.Objects {
		keyOf[c.WorkflowID] = c.Key()
	}
	names := func(ids []string) string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = orDefault(keyOf[id], id)
		}
		return strings.Join(out, ", ")
	}
	for _, sl := range st.Slots {
		s := fmt.Sprintf("%s: %d of %d held", sl.Connection, len(sl.Holders), max(1, req.Waves.PerConnection))
		if len(sl.Holders) > 0 {
			s += " (" + names(sl.Holders) + ")"
		}
		if len(sl.Queue) > 0 {
			s += "; waiting: " + names(sl.Queue)
		}
		line("slots", s)
	}
	if st.Events > 0 || st.RunCount > 0 {
		line("events", fmt.Sprintf("%d in this run (run %d of the fleet), at most %d in any run", st.Events, st.RunCount, st.MaxEvents))
	}
	if rk := st.RecordKeys; rk != nil {
		if rk.JSONURL != "" {
			line("record", rk.JSONURL+" "+rk.MarkdownURL)
		} else {
			line("record", strings.TrimSpace(rk.JSONKey+" "+rk.MarkdownKey))
		}
	}

	if len(st.Objects) > 0 {
		fmt.Fprintln(w, "\nobjects:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  OBJECT\tWAVE\tPHASE\tWAITING FOR\tOUTCOME")
		for _, c := range sortedChildren(st.Objects) {
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", c.Key(), c.Wave, childPhase(c), orDash(childWaiting(c)), orDash(childOutcome(c)))
		}
		_ = tw.Flush()
	}
	if todo := fleetTodo(st); len(todo) > 0 {
		fmt.Fprintln(w, "\nwaiting for people (on each retirement):")
		for _, l := range todo {
			fmt.Fprintln(w, "  "+l)
		}
	}
	if len(st.Waves) > 0 {
		fmt.Fprintln(w, "\nwaves:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  WAVE\tNAME\tSTATE\tOBJECTS\tGO BY\tSTARTED\tDONE")
		for _, wv := range st.Waves {
			by := "-"
			switch {
			case wv.Proceed != nil:
				by = provenBy(wv.Proceed.By, wv.Proceed.Verified)
			case wv.Number == 1:
				by = "the requester's start"
			}
			mark := ""
			if wv.Number == st.Wave && st.FinishedAt.IsZero() {
				mark = " <"
			}
			fmt.Fprintf(tw, "  %d%s\t%s\t%s\t%d\t%s\t%s\t%s\n", wv.Number, mark, wv.Name, wv.State, len(wv.Objects), by, orDash(stamp(wv.StartedAt)), orDash(stamp(wv.DoneAt)))
		}
		_ = tw.Flush()
	}
	if len(st.Failures) > 0 {
		fmt.Fprintln(w, "\nfailed:")
		for _, f := range st.Failures {
			fmt.Fprintf(w, "  %s ended %s at %s%s\n", f.Object, f.Phase, stamp(f.At), said(f.Error))
		}
	}
	if len(st.Decisions) > 0 {
		fmt.Fprintln(w, "\ndecisions:")
		for _, d := range st.Decisions {
			what := d.Decision
			switch {
			case d.Decision == workflows.UpdateFleetProceed:
				what = fmt.Sprintf("proceed with wave %d", d.Wave)
			case d.Object != "":
				what += " " + d.Object
			}
			fmt.Fprintf(w, "  %s by %s at %s%s\n", what, provenBy(d.By, d.Verified), stamp(d.At), said(d.Note))
		}
	}
	if len(st.Runs) > 0 {
		fmt.Fprintln(w, "\nruns handed over:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  RUN\tEVENTS\tWAVE\tWHY\tAT")
		for _, r := range st.Runs {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\n", r.Run, r.Events, r.Wave, r.Reason, stamp(r.At))
		}
		_ = tw.Flush()
	}
}

// fleetTodo is the command that gives each retirement of the fleet what it waits for from a
// person, as its report says.
func fleetTodo(st workflows.FleetStatus) []string {
	var out []string
	for _, c := range sortedChildren(st.Objects) {
		if c.Ended() || c.Waiting == "" {
			continue
		}
		t := c.Connection + " " + c.Object
		var cmd string
		switch w := c.Waiting; {
		case strings.HasPrefix(w, "owner sign-off"):
			cmd = "retire approve " + t + " --as <owner> --sign-with <key>   (or retire object, retire extend)"
		case strings.HasPrefix(w, "acknowledgement of the access attempts"):
			cmd = "retire acknowledge-attempts " + t + " --as <dba or owner> --note <why> --sign-with <key>"
		case strings.HasPrefix(w, "acknowledgement of the usage evidence"):
			cmd = "retire acknowledge-clients " + t + " --as <dba or owner> --note <why> --sign-with <key>"
		default:
			continue
		}
		out = append(out, c.Key()+": "+cmd)
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// failureText is the failures against the budget: the budget counts from the last resume.
func failureText(st workflows.FleetStatus) string {
	budget := st.Request.WithDefaults().Waves.FailureBudget
	var resumed time.Time
	for _, d := range st.Decisions {
		if d.Decision == workflows.UpdateFleetResume {
			resumed = d.At
		}
	}
	since := 0
	for _, f := range st.Failures {
		if f.At.After(resumed) || resumed.IsZero() {
			since++
		}
	}
	s := fmt.Sprintf("%d of a budget of %d", since, budget)
	if !resumed.IsZero() {
		s += fmt.Sprintf(" since the last resume (%d in all)", len(st.Failures))
	}
	return s + "; the fleet pauses when the budget is spent"
}

// sortedChildren orders the objects by wave, then by phase in lifecycle order (those not
// started last), then as requested.
func sortedChildren(cs []workflows.FleetChild) []workflows.FleetChild {
	out := slices.Clone(cs)
	rank := func(c workflows.FleetChild) int {
		if i := slices.Index(workflows.Phases, c.Phase); i >= 0 && c.Started {
			return i
		}
		if c.Started {
			return -1 // starting: no report yet
		}
		return len(workflows.Phases)
	}
	slices.SortStableFunc(out, func(x, y workflows.FleetChild) int {
		if x.Wave != y.Wave {
			return x.Wave - y.Wave
		}
		return rank(x) - rank(y)
	})
	return out
}

func childPhase(c workflows.FleetChild) string {
	switch {
	case c.Excluded && !c.Started:
		return "excluded"
	case !c.Started:
		return "not started"
	case c.Phase == "":
		return "starting"
	}
	s := string(c.Phase)
	if c.Excluded {
		s += " (excluded)"
	}
	return s
}

func childWaiting(c workflows.FleetChild) string {
	switch {
	case c.Waiting != "":
		return c.Waiting
	case c.Slot == workflows.SlotWaiting:
		return "a slot of its connection"
	}
	return ""
}

func childOutcome(c workflows.FleetChild) string {
	var parts []string
	if c.Outcome != "" {
		parts = append(parts, c.Outcome)
	}
	if c.Error != "" {
		parts = append(parts, c.Error)
	}
	if c.Excluded {
		parts = append(parts, "excluded by "+c.ExcludedBy+said(c.ExcludeReason))
	}
	if c.Archive != "" {
		parts = append(parts, "archive "+c.Archive)
	}
	if c.Slot == workflows.SlotHeld {
		parts = append(parts, "holds a slot")
	}
	return strings.Join(parts, "; ")
}

// fleetEnded: the fleet's execution closed for good. A fleet says "done" a moment before it
// ends: it still writes its record, which the last frame should show.
func fleetEnded(v fleetView) bool {
	return runEnded(v.execution, v.Phase == workflows.FleetDone || v.Phase == workflows.FleetAborted)
}

// fleetLine is the fleet as one line of a log, for --watch when piped.
func fleetLine(now time.Time, v fleetView) string {
	parts := []string{now.UTC().Format("2006-01-02 15:04:05 MST"), "phase " + orDash(string(v.Phase))}
	if v.Progress != "" {
		parts = append(parts, v.Progress)
	}
	counts := map[string]int{}
	var order []string
	for _, c := range v.Objects {
		p := childPhase(c)
		if counts[p] == 0 {
			order = append(order, p)
		}
		counts[p]++
	}
	var cs []string
	for _, p := range order {
		cs = append(cs, fmt.Sprintf("%d %s", counts[p], p))
	}
	if len(cs) > 0 {
		parts = append(parts, "objects: "+strings.Join(cs, ", "))
	}
	record := ""
	if rk := v.RecordKeys; rk != nil {
		record = orDefault(rk.JSONURL, rk.JSONKey)
	}
	for _, n := range [][2]string{{"waiting", v.Waiting}, {"outcome", v.Outcome}, {"note", v.note}, {"record", record}} {
		if n[1] != "" {
			parts = append(parts, n[0]+": "+n[1])
		}
	}
	return strings.Join(parts, "; ")
}

func (a *app) watchFleet(ctx context.Context, c temporalAPI, name string, out output, interval time.Duration) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	width, tty := a.tty()
	scr := &screen{w: a.out, width: width}
	var last, lastErr string
	for first := true; ; first = false {
		v, err := a.loadFleet(ctx, c, name)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && first:
			return err
		case err != nil:
			if msg := oneLine(err.Error()); msg != lastErr {
				fmt.Fprintf(a.errOut, "retire: %s (retrying every %s)\n", msg, interval)
				lastErr = msg
			}
		default:
			lastErr = ""
			key := fleetChangeKey(v)
			changed := key != last
			last = key
			switch {
			case out == outputJSON:
				if changed {
					if err := writeJSONLine(a.out, v.FleetStatus); err != nil {
						return err
					}
				}
			case tty:
				var b strings.Builder
				fmt.Fprintf(&b, "fleet %s at %s\n", name, a.now().UTC().Format("15:04:05 MST"))
				renderFleet(&b, v)
				scr.draw(strings.Split(strings.TrimRight(b.String(), "\n"), "\n"))
			case changed:
				fmt.Fprintln(a.out, fleetLine(a.now(), v))
			}
			if fleetEnded(v) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// fleetChangeKey is the status without the history counters, which move with every report.
func fleetChangeKey(v fleetView) string {
	st := v.FleetStatus
	st.Events, st.MaxEvents = 0, 0
	b, _ := json.Marshal(struct {
		S          workflows.FleetStatus
		Exec, Note string
	}{st, v.execution, v.note})
	return string(b)
}

// ---------------------------------------------------------------------------------------
// Decisions: proceed, pause, resume, exclude, abort.

const fleetSignHelp = `
Who decides is proven with an SSH signature (the ssh-keygen -Y sign format, namespace
retire-decision@dataretire) by one of the keys the owners directory lists for that person;
the fleet pinned the keys of its requester and of the directory's DBAs when it started. The
statement names the decision, the fleet's workflow and its current run (the fleet continues
as new at every wave boundary: the run is read right before signing) and what the decision
says. --sign-with names the key: a private key file, or a .pub file whose private key
ssh-agent holds (SSH_AUTH_SOCK); without it (or RETIRE_SIGN_WITH), a key in ssh-agent that
the fleet pinned for the person of --as. A worker that requires proof refuses a decision
without one; the fleet's refusal is printed as it is, and nothing was decided.`

type fleetDecisionText struct {
	use, short, long, example, asHelp string
	noteFlag, noteHelp                string
	needNote                          string // "" when the note is optional
}

var fleetDecisionTexts = map[string]fleetDecisionText{
	workflows.UpdateFleetProceed: {
		use:   "proceed <name> --as <dba> [--note ...] [--sign-with KEY]",
		short: "Give the proven go for the next wave, once the one before it is done",
		long: `Give the go for the wave the fleet waits for: after the beta wave (and after each later
wave) the fleet starts nothing until the requester or a DBA says so. The go names the wave it
is for (read from the fleet's status, or --wave): a go given while looking at an older status
cannot start a later wave.`,
		example: `  retire fleet proceed shop-fleet --as dba --note "beta dropped cleanly" --sign-with ~/.ssh/id_ed25519
  retire fleet proceed shop-fleet --as dba --wave 2 --sign-with ~/.ssh/id_ed25519.pub   # key in ssh-agent`,
		asHelp: "who gives the go: the requester or a DBA, directory id or e-mail (required)", noteFlag: "note",
		noteHelp: "why, kept in the fleet's record (and signed)",
	},
	workflows.UpdateFleetPause: {
		use:   "pause <name> --as <dba> --note <why> [--sign-with KEY]",
		short: "Pause a fleet: no child starts its archive and drop, no new wave starts",
		long: `Pause the fleet: no child is granted a slot for its archive and drop (they wait before it,
their data whole, access still cut), and no wave starts. Children already archiving or
dropping finish. The fleet also pauses itself once its failure budget is spent. Resume with
retire fleet resume, or abort.`,
		example:  `  retire fleet pause shop-fleet --as dba --note "CHG-9: change freeze until Monday" --sign-with ~/.ssh/id_ed25519`,
		asHelp:   "who pauses: the requester or a DBA (required)",
		noteFlag: "note", noteHelp: "why the fleet pauses (required; signed)", needNote: "say why the fleet pauses: --note",
	},
	workflows.UpdateFleetResume: {
		use:   "resume <name> --as <dba> [--note ...] [--sign-with KEY]",
		short: "Resume a paused fleet; the failure budget counts again from here",
		long: `Resume a paused fleet: children waiting for a slot get theirs, waves go on. A fleet paused
by its failure budget gets the budget again.`,
		example:  `  retire fleet resume shop-fleet --as dba --note "db2 failure understood, see CHG-10" --sign-with ~/.ssh/id_ed25519`,
		asHelp:   "who resumes: the requester or a DBA (required)",
		noteFlag: "note", noteHelp: "why, kept in the fleet's record (and signed)",
	},
	workflows.UpdateFleetAbort: {
		use:   "abort <name> --as <dba> --reason <why> [--sign-with KEY]",
		short: "Abort a fleet: nothing new starts; children before their drop give access back",
		long: `Abort the fleet: no wave and no child starts any more; every child before its drop is
cancelled, and its retirement gives access back exactly as it was; children past their drop
finish (their way back is retire restore from the archive). The fleet then writes its record
and ends as aborted.`,
		example:  `  retire fleet abort shop-fleet --as dba --reason "the list had production databases" --sign-with ~/.ssh/id_ed25519`,
		asHelp:   "who aborts: the requester or a DBA (required)",
		noteFlag: "reason", noteHelp: "why the fleet is aborted (required; signed)", needNote: "say why the fleet is aborted: --reason",
	},
}

func (a *app) fleetDecisionCommand(update string) *cobra.Command {
	txt := fleetDecisionTexts[update]
	var in workflows.FleetDecision
	var wave int
	var sf signFlags
	cmd := &cobra.Command{
		Use:     txt.use,
		Short:   txt.short,
		Long:    txt.long + "\n" + fleetSignHelp,
		Example: txt.example,
		Args:    fleetName,
		RunE: func(cmd *cobra.Command, args []string) error {
			problems := []error{need(in.By, "say who decides: --as <requester or DBA>")}
			if txt.needNote != "" {
				problems = append(problems, need(in.Note, txt.needNote))
			}
			if err := errors.Join(problems...); err != nil {
				return err
			}
			name := args[0]
			rec, st, err := a.fleetDecide(cmd.Context(), sf, name, update, func(st workflows.FleetStatus) (fleetArg, error) {
				d := in
				if update == workflows.UpdateFleetProceed {
					d.Wave = st.Wave
					if wave != 0 {
						d.Wave = wave
					}
				}
				return &d, nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(a.out, fleetDecided(update, name, rec, st))
			return nil
		},
	}
	cmd.Flags().StringVar(&in.By, "as", "", txt.asHelp)
	cmd.Flags().StringVar(&in.Note, txt.noteFlag, "", txt.noteHelp)
	if update == workflows.UpdateFleetProceed {
		cmd.Flags().IntVar(&wave, "wave", 0, "the wave the go is for (default: the one the fleet waits for, from its status)")
	}
	sf.add(cmd)
	return cmd
}

func (a *app) fleetExcludeCommand() *cobra.Command {
	var in workflows.FleetExclude
	var sf signFlags
	cmd := &cobra.Command{
		Use:   "exclude <name> <connection/object> --as <dba> --reason <why> [--sign-with KEY]",
		Short: "Take one object out of a fleet: it never starts, or is cancelled before its drop",
		Long: `Take <connection/object> out of the fleet: if its retirement has not started it never will;
if it runs and is before its drop, it is cancelled and gives access back. An object past its
drop cannot be excluded (its way back is retire restore from the archive). A wave whose
objects are all excluded is skipped.
` + fleetSignHelp,
		Example: `  retire fleet exclude shop-fleet db2/billing --as dba --reason "finance still reads it (INC-77)" --sign-with ~/.ssh/id_ed25519`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return fmt.Errorf("%s needs <name> <connection/object>, e.g. `%s shop-fleet db2/billing` (got %d argument(s))", cmd.CommandPath(), cmd.CommandPath(), len(args))
			}
			if c, o, ok := strings.Cut(args[1], "/"); !ok || c == "" || o == "" {
				return fmt.Errorf("%q: write the object as <connection>/<object>, as the fleet's status lists it", args[1])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := errors.Join(need(in.By, "say who decides: --as <requester or DBA>"), need(in.Reason, "say why the object is excluded: --reason")); err != nil {
				return err
			}
			name := args[0]
			rec, st, err := a.fleetDecide(cmd.Context(), sf, name, workflows.UpdateFleetExclude, func(workflows.FleetStatus) (fleetArg, error) {
				x := in
				x.Object = args[1]
				return &x, nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(a.out, fleetDecided(workflows.UpdateFleetExclude, name, rec, st))
			return nil
		},
	}
	cmd.Flags().StringVar(&in.By, "as", "", "who excludes: the requester or a DBA (required)")
	cmd.Flags().StringVar(&in.Reason, "reason", "", "why the object is taken out (required; signed)")
	sf.add(cmd)
	return cmd
}

// fleetArg is a decision's argument: what it says, and where its proof goes.
type fleetArg interface {
	Says() string
}

func setProof(arg fleetArg, pr *proof.Proof) {
	switch v := arg.(type) {
	case *workflows.FleetDecision:
		v.Proof = pr
	case *workflows.FleetExclude:
		v.Proof = pr
	}
}

func byOf(arg fleetArg) string {
	switch v := arg.(type) {
	case *workflows.FleetDecision:
		return v.By
	case *workflows.FleetExclude:
		return v.By
	}
	return ""
}

// maxFleetTries bounds how often a decision is signed again because the fleet handed over
// to a new run between the signature and the update.
const maxFleetTries = 3

// fleetDecide signs the decision for the fleet's current run and sends it, and returns what
// the fleet recorded and its status as read before. build makes the argument from that
// status (proceed reads the wave the fleet waits for). A refusal is the validator's message.
func (a *app) fleetDecide(ctx context.Context, sf signFlags, name, update string, build func(workflows.FleetStatus) (fleetArg, error)) (workflows.FleetDecisionRecord, workflows.FleetStatus, error) {
	var rec workflows.FleetDecisionRecord
	var key *sshKey
	if path := sf.path(a.getenv); path != "" {
		k, err := a.loadKey(path)
		if err != nil {
			return rec, workflows.FleetStatus{}, err
		}
		key = k
		defer key.release()
	}
	c, err := a.temporal()
	if err != nil {
		return rec, workflows.FleetStatus{}, err
	}
	id := workflows.FleetWorkflowID(name)
	for try := 1; ; try++ {
		d, st, err := a.fleetDecider(ctx, c, name, key)
		if err != nil {
			return rec, st, err
		}
		arg, err := build(st)
		if err != nil {
			return rec, st, err
		}
		pr, err := d.sign(update, byOf(arg), arg.Says())
		if err != nil {
			return rec, st, err
		}
		setProof(arg, pr)
		if key == nil && d.key != nil {
			defer d.key.release() // the agent key sign found
		}
		rctx, cancel := a.rpc(ctx)
		h, err := c.UpdateWorkflow(rctx, client.UpdateWorkflowOptions{
			WorkflowID: id, UpdateName: update, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(rctx, &rec)
		}
		cancel()
		if err == nil {
			return rec, st, nil
		}
		// The fleet handed over to a new run in between: sign again, for that run.
		if try < maxFleetTries && pr != nil && strings.Contains(explain(err), "decide again on the current run") {
			continue
		}
		return rec, st, a.fleetUpdateError(ctx, c, name, update, err)
	}
}

// fleetDecider reads the fleet's current run and the people it pinned, right before signing.
func (a *app) fleetDecider(ctx context.Context, c temporalAPI, name string, key *sshKey) (*decider, workflows.FleetStatus, error) {
	id := workflows.FleetWorkflowID(name)
	d := &decider{a: a, id: id, key: key, explicit: key != nil}
	desc, err := a.describe(ctx, c, id, "")
	switch {
	case isNotFound(err):
		return nil, workflows.FleetStatus{}, fmt.Errorf("no fleet named %s is running (workflow %s); start one with `retire fleet start <file.yaml>`", name, id)
	case isTimeout(err):
		return nil, workflows.FleetStatus{}, fmt.Errorf("Temporal did not answer within %s; check TEMPORAL_ADDRESS or raise --timeout", a.timeout)
	case err != nil:
		return nil, workflows.FleetStatus{}, fmt.Errorf("cannot read the current run of fleet %s to sign for it: %s", name, explain(err))
	case desc.closed():
		return nil, workflows.FleetStatus{}, a.fleetOver(ctx, c, name, desc)
	}
	d.run = desc.RunID
	st, err := a.queryFleet(ctx, c, id, desc.RunID)
	switch {
	case isTimeout(err):
		return nil, st, fmt.Errorf("fleet %s did not answer within %s: is a retire-worker running on task queue %q?", name, a.timeout, workflows.TaskQueue)
	case err != nil:
		return nil, st, fmt.Errorf("cannot read fleet %s: %s", name, explain(err))
	}
	if st.RunID != "" {
		d.run = st.RunID
	}
	if st.Signers != nil {
		d.pins = &st.Signers.Pins
	}
	return d, st, nil
}

func (a *app) fleetOver(ctx context.Context, c temporalAPI, name string, desc *execution) error {
	st, _ := a.closedFleet(ctx, c, workflows.FleetWorkflowID(name), desc.RunID, desc)
	return fmt.Errorf("fleet %s is over (%s); nothing more can be decided; see `retire fleet status %s`", name, orDash(st.Outcome), name)
}

func (a *app) fleetUpdateError(ctx context.Context, c temporalAPI, name, update string, err error) error {
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &appErr) && appErr.Message() != "":
		return errors.New(appErr.Message())
	case isNotFound(err):
		if desc, derr := a.describe(ctx, c, workflows.FleetWorkflowID(name), ""); derr == nil && desc.closed() {
			return a.fleetOver(ctx, c, name, desc)
		}
		return fmt.Errorf("no fleet named %s is running (workflow %s)", name, workflows.FleetWorkflowID(name))
	case isTimeout(err):
		return fmt.Errorf("no answer to the %s update within %s: is a retire-worker running on task queue %q? "+
			"The server keeps the update and a worker may still apply it: check `retire fleet status %s` before sending it again",
			update, a.timeout, workflows.TaskQueue, name)
	}
	return fmt.Errorf("%s of fleet %s failed: %s", update, name, explain(err))
}

// fleetDecided says what the fleet took, from whom, and what happens now.
func fleetDecided(update, name string, rec workflows.FleetDecisionRecord, st workflows.FleetStatus) string {
	who := provenBy(rec.By, rec.Verified)
	follow := fmt.Sprintf("; follow it with `retire fleet status %s`", name)
	switch update {
	case workflows.UpdateFleetProceed:
		w := workflows.FleetWave{Number: rec.Wave}
		for _, x := range st.Waves {
			if x.Number == rec.Wave {
				w = x
			}
		}
		s := fmt.Sprintf("go for wave %d of %d", w.Number, len(st.Waves))
		if count := plural(len(w.Objects), "object", "objects"); w.Name != "" && w.Name != count {
			s += fmt.Sprintf(" (%s, %s)", w.Name, count)
		} else if w.Name != "" {
			s += " (" + count + ")"
		}
		return s + " given by " + who + "; its retirements start now" + fleetSignoff(st, ", each waiting for its owners' sign-off") + follow
	case workflows.UpdateFleetPause:
		return fmt.Sprintf("fleet %s paused by %s: no child starts its archive and drop and no wave starts; those archiving or dropping finish; "+
			"resume with `retire fleet resume %s --as <requester or DBA>`", name, who, name)
	case workflows.UpdateFleetResume:
		return fmt.Sprintf("fleet %s resumed by %s: children waiting for a slot get theirs, and the failure budget counts again from here", name, who) + follow
	case workflows.UpdateFleetExclude:
		return fmt.Sprintf("%s excluded from fleet %s by %s: it never starts, or its retirement is cancelled before its drop and gives access back", rec.Object, name, who) + follow
	case workflows.UpdateFleetAbort:
		return fmt.Sprintf("fleet %s aborted by %s: nothing new starts; children before their drop are cancelled and give access back; those past it finish; the fleet record says which", name, who) + follow
	}
	return update + " by " + who
}

// ---------------------------------------------------------------------------------------
// retire fleet list

type fleetRow struct {
	Name       string    `json:"name"`
	WorkflowID string    `json:"workflow_id"`
	RunID      string    `json:"run_id"`
	StartedAt  time.Time `json:"started_at"`
	ClosedAt   time.Time `json:"closed_at,omitzero"`
	Status     string    `json:"status"`
}

func (a *app) fleetListCommand() *cobra.Command {
	var out output
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List fleets (running ones unless --all)",
		Long: `List fleets from Temporal's visibility store, newest first: one row per fleet run that is
running (or, with --all, that ended; runs handed over to a next run are left out).

-o json prints an array of {name, workflow_id, run_id, started_at, closed_at, status}.
In the Temporal UI, WorkflowType = "RetireFleet" lists them; RetireFleet = "<name>" lists one
fleet with all its retirements.`,
		Example: `  retire fleet list
  retire fleet list --all -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.temporal()
			if err != nil {
				return err
			}
			q := "WorkflowType = '" + workflows.FleetWorkflowName + "' AND "
			if all {
				q += "ExecutionStatus != 'ContinuedAsNew'"
			} else {
				q += "ExecutionStatus = 'Running'"
			}
			rows := []fleetRow{}
			var token []byte
			for {
				rctx, cancel := a.rpc(cmd.Context())
				resp, err := c.ListWorkflow(rctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: 100, NextPageToken: token})
				cancel()
				if err != nil {
					return fmt.Errorf("cannot list fleets: %s", explain(fleetAttributeHint(err)))
				}
				for _, e := range resp.GetExecutions() {
					r := fleetRow{
						Name:       keyword[string](e.GetSearchAttributes().GetIndexedFields(), workflows.AttrFleet.GetName()),
						WorkflowID: e.GetExecution().GetWorkflowId(), RunID: e.GetExecution().GetRunId(), Status: e.GetStatus().String(),
					}
					if r.Name == "" {
						r.Name = strings.TrimPrefix(r.WorkflowID, workflows.FleetWorkflowID(""))
					}
					if e.GetStartTime() != nil {
						r.StartedAt = e.GetStartTime().AsTime()
					}
					if e.GetCloseTime() != nil {
						r.ClosedAt = e.GetCloseTime().AsTime()
					}
					rows = append(rows, r)
				}
				if token = resp.GetNextPageToken(); len(token) == 0 {
					break
				}
			}
			if out == outputJSON {
				return writeJSON(a.out, rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(a.out, "no fleets found")
				return nil
			}
			tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tWORKFLOW ID\tSTARTED\tSTATUS")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.WorkflowID, orDash(stamp(r.StartedAt)), r.Status)
			}
			return tw.Flush()
		},
	}
	addOutputFlag(cmd, &out)
	cmd.Flags().BoolVar(&all, "all", false, "finished fleets too")
	return cmd
}
