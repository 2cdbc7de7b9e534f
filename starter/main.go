// Command retire is the CLI that DBAs and data owners use to start, steer and watch the
// retirement of a database. Every retirement is a RetireDatabase workflow on Temporal; this
// program only starts it, sends it people's decisions (Temporal updates) and reads it back.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dataretire/retire/temporalclient"
	"github.com/dataretire/retire/workflows"
)

func main() {
	os.Exit(newApp(os.Stdout, os.Stderr).execute(os.Args[1:]))
}

// execute is main without the process, so that tests run commands against a fake client.
func (a *app) execute(args []string) int {
	defer a.close()
	root := a.rootCommand()
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(a.errOut, "retire: %s\n", oneLine(err.Error()))
		return 1
	}
	return 0
}

// temporalAPI is the part of client.Client the CLI uses; tests replace it with a fake.
type temporalAPI interface {
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error)
	GetWorkflow(ctx context.Context, workflowID, runID string) client.WorkflowRun
	QueryWorkflow(ctx context.Context, workflowID, runID, queryType string, args ...any) (converter.EncodedValue, error)
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
	UpdateWorkflow(ctx context.Context, options client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error)
	CancelWorkflowWithOptions(ctx context.Context, options client.CancelWorkflowOptions) error
	ListWorkflow(ctx context.Context, request *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
	Close()
}

// app carries what every command shares: output, the RPC timeout and a client that is only
// dialled when a command needs the server, so that --help and local validation work offline.
type app struct {
	out, errOut io.Writer
	timeout     time.Duration
	getenv      func(string) string
	now         func() time.Time
	dial        func() (temporalAPI, error)
	// pollEvery is how often start re-reads the status while the plan runs.
	pollEvery time.Duration
	// tty says whether out is a terminal that takes cursor moves, and its width.
	tty func() (width int, ok bool)
	// passphrase asks for an SSH key's passphrase; errNoTerminal when nobody can type it.
	passphrase func(prompt string) ([]byte, error)

	client temporalAPI
}

func newApp(stdout, stderr io.Writer) *app {
	a := &app{out: stdout, errOut: stderr, getenv: os.Getenv, now: time.Now, pollEvery: time.Second}
	a.tty = a.terminalWidth
	a.passphrase = a.askPassphrase
	a.dial = func() (temporalAPI, error) {
		c, err := temporalclient.Dial(newLogger(stderr))
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return a
}

func (a *app) temporal() (temporalAPI, error) {
	if a.client == nil {
		c, err := a.dial()
		if err != nil {
			return nil, err
		}
		a.client = c
	}
	return a.client, nil
}

func (a *app) close() {
	if a.client != nil {
		a.client.Close()
	}
}

// rpc bounds one call to the server by --timeout.
func (a *app) rpc(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.timeout)
}

// newLogger keeps the SDK quiet: its info lines would drown the one line a DBA needs.
func newLogger(w io.Writer) *zap.Logger {
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), zapcore.WarnLevel)
	return zap.New(core)
}

const rootLong = `retire retires a MySQL/MariaDB database safely, over weeks, as one durable Temporal
workflow per database (id retire:<connection>:<database>). The lifecycle:

  1. plan     validate the request; inventory tables, rows, bytes, views, routines, accounts
  2. sample   watch who connects (default 3d); clients seen must be acknowledged
  3. quiesce  snapshot the access, then cut it reversibly (revoke grants, or rename)
  4. observe  wait the observation window (default 14d, at most 35d); owners approve, object or extend
  5. archive  export everything to object storage, read it back, verify every checksum
  6. drop     check every gate again, then DROP DATABASE: the point of no return
  7. verify   prove the database is gone and count the bytes freed
  8. record   write the retirement record (JSON and Markdown) beside the archive

Cancelling before the drop gives access back; after it, only a restore from the archive does.
A <connection> is a profile name from the worker's config: no credentials go through here.

Who owns a database, and so who may approve, object or extend, comes from the worker's owners
directory, pinned with each person's SSH keys when the retirement plans. Every decision
(start, approve, object, extend, acknowledge-*) is signed with the person's SSH key
(--sign-with, or a pinned key in ssh-agent), and retire record verify checks every proof of
a finished retirement offline, against the keys pinned in its record.

The read commands (status, list, record, ls, verify) print text for people, or JSON for
scripts with -o json (each command's --help lists the fields). status --watch follows a
retirement live until it ends.

Temporal is reached like the temporal CLI does it:
  TEMPORAL_ADDRESS    host:port of the frontend (default localhost:7233)
  TEMPORAL_NAMESPACE  namespace (default "default")
  TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE   a profile of the temporal CLI's config file
  TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH, ...`

const rootExample = `  retire start local shop --reason decommission --ticket CHG-1 --sign-with ~/.ssh/id_ed25519
  retire status local shop
  retire status local shop --watch          # live view until it ends; Ctrl-C to stop watching
  retire status local shop -o json | jq .phase
  retire approve local shop --as alice --sign-with ~/.ssh/id_ed25519.pub   # key held by ssh-agent
  retire record verify s3://retire-archive/local/shop/<run id>/         # every proof, offline
  retire list --phase observe`

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "retire",
		Short:         "Retire MySQL/MariaDB databases safely with a long-running Temporal workflow",
		Long:          rootLong,
		Example:       rootExample,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Without this cobra runs a bare `retire` silently; the help is what a newcomer needs.
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	root.PersistentFlags().DurationVar(&a.timeout, "timeout", 30*time.Second, "deadline of each call to Temporal")
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%v (see %s --help)", err, cmd.CommandPath())
	})
	root.AddCommand(
		a.startCommand(),
		a.approveCommand(), a.objectCommand(), a.extendCommand(), a.acknowledgeCommand(), a.acknowledgeAttemptsCommand(),
		a.cancelCommand(),
		a.statusCommand(),
		a.listCommand(),
		a.recordCommand(),
		a.lsCommand(),
		a.archiveCommand(),
		a.verifyCommand(),
		a.restoreCommand(),
		a.fleetCommand(),
	)
	return root
}

// target reads <connection> <database>, the two arguments that name every retirement.
func target(cmd *cobra.Command, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("%s needs <connection> <database>, e.g. `%s local shop` (got %d argument(s))", cmd.CommandPath(), cmd.CommandPath(), len(args))
	}
	return nil
}

// workflowID is the id of the retirement of connection/database; the workflows package owns it.
func workflowID(args []string) string { return workflows.WorkflowID(args[0], args[1]) }

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
