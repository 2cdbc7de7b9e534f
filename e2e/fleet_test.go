package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/proof"
	"github.com/dataretire/retire/testservices"
	"github.com/dataretire/retire/workflows"
)

// TestFleetOfSixOnTwoProfiles retires six small databases of one MariaDB, reached through
// two connection profiles (a and b, three databases each), as one fleet, through the real
// CLI, dev server and worker, on a worker that requires proof of every decision. The beta
// wave (one database per profile) runs first; its retirements need alice's signed sign-off;
// nothing of the second wave starts until a DBA gives a signed go; then all six are dropped,
// and the fleet's record in MinIO lists them with their verified archives. The test acts
// only on what the fleet's status says each retirement waits for, as people would; when
// that view stops moving, it is checked against what each retirement says of itself.
func TestFleetOfSixOnTwoProfiles(t *testing.T) {
	began := time.Now()
	h := &harness{t: t, bin: buildBinaries(t), dir: t.TempDir()}
	h.temporal = testservices.Temporal(t)
	h.s3 = testservices.MinIO(t)
	h.db = testservices.MariaDB(t)

	suffix := randomHex(4)
	type object struct{ conn, db string }
	var objects []object
	for i := 1; i <= 6; i++ {
		o := object{conn: "a", db: fmt.Sprintf("rt_fleet_%s_%d", suffix, i)}
		if i > 3 {
			o.conn = "b"
		}
		objects = append(objects, o)
		h.exec("CREATE DATABASE " + o.db)
		t.Cleanup(func() { h.exec("DROP DATABASE IF EXISTS " + o.db) })
		h.exec(fmt.Sprintf("CREATE TABLE %s.t (id INT PRIMARY KEY, note VARCHAR(20))", o.db))
		h.exec(fmt.Sprintf("INSERT INTO %s.t VALUES (1, 'one'), (2, 'two'), (%d, 'db')", o.db, 10+i))
	}
	key := func(o object) string { return o.conn + "/" + o.db }

	keys := map[string]string{}
	pub := map[string]string{}
	for _, who := range []string{"alice", "dba"} {
		keys[who] = filepath.Join(h.dir, who)
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who+"@e2e", "-f", keys[who]).CombinedOutput()
		require.NoError(t, err, string(out))
		b, err := os.ReadFile(keys[who] + ".pub")
		require.NoError(t, err)
		pub[who] = strings.TrimSpace(string(b))
	}
	profile := func(name string) string {
		return fmt.Sprintf(`  %s:
    engine: mysql
    host: 127.0.0.1
    port: 3306
    user: root
    password_env: RT_E2E_DB_PASSWORD
    poll_interval: 100ms
    sampling: {enable: [table-counters]}
`, name)
	}
	pattern := "rt_fleet_" + suffix + "_*"
	h.cfg = filepath.Join(h.dir, "config.yaml")
	require.NoError(t, os.WriteFile(h.cfg, []byte("connections:\n"+profile("a")+profile("b")+fmt.Sprintf(`stores:
  e2e:
    endpoint: %s
    bucket: retire-e2e
    prefix: archive
    access_key_env: RT_E2E_S3_ACCESS
    secret_key_env: RT_E2E_S3_SECRET
owners:
  people:
    - id: alice@example.com
      name: Alice
      ssh_keys: [%q]
      owns: [{connection: a, objects: [%s]}, {connection: b, objects: [%s]}]
    - id: dba
      dba: true
      ssh_keys: [%q]
signoff:
  require_proof: true
`, h.s3.Endpoint, pub["alice"], pattern, pattern, pub["dba"])), 0o600))
	// No ssh-agent of the machine's may sign for anybody here.
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "SSH_AUTH_SOCK=") && !strings.HasPrefix(e, "RETIRE_SIGN_WITH=") {
			h.env = append(h.env, e)
		}
	}
	h.env = append(h.env, "TEMPORAL_ADDRESS="+h.temporal.Address, "TEMPORAL_NAMESPACE=default",
		"RT_E2E_DB_PASSWORD=", "RT_E2E_S3_ACCESS="+h.s3.AccessKey, "RT_E2E_S3_SECRET="+h.s3.SecretKey)
	h.startWorker("worker.log")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker log:\n%s", tail(h.log("worker.log"), 80))
		}
	})

	name := "e2e-" + suffix
	var file strings.Builder
	fmt.Fprintf(&file, "name: %s\nreason: decommission\nticket: E2E-FLEET\nrequester: dba\nsample: 1s\nobserve: 3s\nobjects:\n", name)
	for _, o := range objects {
		fmt.Fprintf(&file, "  - {connection: %s, object: %s}\n", o.conn, o.db)
	}
	file.WriteString("waves:\n  group: all\n  done_when: dropped\n")
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		out, _ := h.retireErr("fleet", "status", name)
		t.Logf("retire fleet status %s:\n%s", name, out)
		// What each retirement says of itself, beside what the fleet last heard from it.
		for _, o := range objects {
			if out, err := h.retireErr("status", o.conn, o.db); err == nil && !strings.HasPrefix(out, "phase: done\n") {
				t.Logf("retire status %s %s:\n%s", o.conn, o.db, out)
				t.Logf("signals of %s:\n%s", workflows.WorkflowID(o.conn, o.db), h.signals(workflows.WorkflowID(o.conn, o.db)))
			}
		}
		t.Logf("signals of the fleet's current run:\n%s", h.signals(workflows.FleetWorkflowID(name)))
	})
	fleetFile := filepath.Join(h.dir, "fleet.yaml")
	require.NoError(t, os.WriteFile(fleetFile, []byte(file.String()), 0o600))

	// The requester proves who asks, or nothing starts: the plan's refusal is one line.
	out, err := h.retireErr("fleet", "start", fleetFile, "--plan-timeout", "1m")
	require.Error(t, err, out)
	require.Contains(t, out, "carries no proof")
	require.Contains(t, out, "nothing was started")
	require.Equal(t, 1, strings.Count(strings.TrimSpace(out), "\n")+1, out)

	out = h.retire("fleet", "start", fleetFile, "--sign-with", keys["dba"])
	t.Logf("retire fleet start:\n%s", out)
	require.Contains(t, out, "started fleet "+name)
	require.Contains(t, out, "requester: dba (verified: SSH signature by SHA256:")
	beta := []string{key(objects[0]), key(objects[3])}
	rest := []string{key(objects[1]), key(objects[2]), key(objects[4]), key(objects[5])}
	// A wave's objects are wrapped under their column: a comma may end a line.
	require.Regexp(t, `(?m)^  1\s+beta\s+`+strings.Join(beta, `,\s+`)+`$`, out)
	require.Regexp(t, `(?m)^  2\s+all the others\s+`+strings.Join(rest, `,\s+`)+`$`, out)
	require.Contains(t, out, "after it, `retire fleet proceed "+name)

	c, err := client.Dial(client.Options{HostPort: h.temporal.Address})
	require.NoError(t, err)
	defer c.Close()
	exists := func(id string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := c.DescribeWorkflowExecution(ctx, id, "")
		var nf *serviceerror.NotFound
		if err != nil && !errors.As(err, &nf) {
			require.NoError(t, err, "describe %s", id)
		}
		return err == nil
	}
	status := func() (workflows.FleetStatus, bool) {
		var st workflows.FleetStatus
		out, err := h.retireErr("fleet", "status", name, "-o", "json")
		if err != nil {
			t.Logf("retire fleet status: %v: %s", err, out)
			return st, false
		}
		require.NoError(t, json.Unmarshal([]byte(out), &st), out)
		return st, true
	}

	// Act on what each retirement waits for, as its people would, until the fleet is where
	// want says.
	acted := map[string]int{}
	signedOff := map[string]bool{}
	drive := func(what string, limit time.Duration, check func(workflows.FleetStatus), want func(workflows.FleetStatus) bool) workflows.FleetStatus {
		t.Helper()
		deadline := time.Now().Add(limit)
		var st workflows.FleetStatus
		var seen string
		changed := time.Now()
		for {
			var ok bool
			if st, ok = status(); ok {
				check(st)
				if want(st) {
					return st
				}
				if view := string(st.Phase) + childrenText(st); view != seen {
					seen, changed = view, time.Now()
				} else if time.Since(changed) > staleAfter {
					h.requireFleetViewCurrent(st)
					changed = time.Now()
				}
				require.NotEqual(t, workflows.FleetAborted, st.Phase, "the fleet was aborted: %s", st.Outcome)
				require.NotEqual(t, workflows.FleetPaused, st.Phase, "the fleet paused: %s; failures %+v", st.Waiting, st.Failures)
				for _, ch := range st.Objects {
					require.NotContains(t, []workflows.Phase{workflows.PhaseFailed, workflows.PhaseAborted, workflows.PhaseCancelled}, ch.Phase,
						"%s ended %s: %s %s", ch.Key(), ch.Phase, ch.Outcome, ch.Error)
					if !ch.Started || ch.Ended() || ch.Waiting == "" {
						continue
					}
					var args []string
					switch w := ch.Waiting; {
					case strings.HasPrefix(w, "owner sign-off"):
						if signedOff[ch.Key()] {
							continue
						}
						args = []string{"approve", ch.Connection, ch.Object, "--as", "alice@example.com", "--comment", "part of fleet " + name, "--sign-with", keys["alice"]}
					case strings.HasPrefix(w, "acknowledgement of the access attempts"):
						args = []string{"acknowledge-attempts", ch.Connection, ch.Object, "--as", "dba", "--note", "nothing uses these databases", "--sign-with", keys["dba"]}
					case strings.HasPrefix(w, "acknowledgement of the usage evidence"):
						args = []string{"acknowledge-clients", ch.Connection, ch.Object, "--as", "dba", "--note", "only the test harness", "--sign-with", keys["dba"]}
					case strings.HasPrefix(w, "a slot of the fleet"):
						continue
					default:
						t.Fatalf("%s waits for something this test does not know: %s", ch.Key(), w)
					}
					act := ch.Key() + " " + args[0]
					out, err := h.retireErr(args...)
					acted[act]++
					if err != nil {
						// The fleet's view may lag behind the retirement's: it may have moved on.
						t.Logf("retire %s: %v: %s", strings.Join(args[:3], " "), err, out)
						require.Less(t, acted[act], 5, "retire %s kept failing: %s", strings.Join(args, " "), out)
						continue
					}
					if args[0] == "approve" {
						signedOff[ch.Key()] = true
					}
					t.Logf("%s: retire %s: %s", time.Since(began).Round(time.Second), strings.Join(args[:3], " "), strings.TrimSpace(out))
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not reached within %s; last status: phase %s, waiting %q, progress %q, objects %s", what, limit, st.Phase, st.Waiting, st.Progress, childrenText(st))
			}
			time.Sleep(300 * time.Millisecond)
		}
	}

	// Nothing of the second wave starts before the go: not in the fleet's view, not on the
	// server, not in the database.
	secondWaveUntouched := func(st workflows.FleetStatus) {
		for _, k := range rest {
			ch, ok := st.Child(k)
			require.True(t, ok, "%s is not in the fleet's status", k)
			require.False(t, ch.Started, "%s of wave 2 started before the go", k)
			require.Empty(t, ch.Phase, k)
		}
	}
	st := drive("the beta wave is done and the fleet waits for the go of wave 2", 3*time.Minute, secondWaveUntouched, func(st workflows.FleetStatus) bool {
		return st.Phase == workflows.FleetWaiting
	})
	t.Logf("%s: waiting for the go: %s", time.Since(began).Round(time.Second), st.Waiting)
	require.Equal(t, 2, st.Wave)
	require.Contains(t, st.Waiting, "wave 2 of 2")
	for _, k := range beta {
		ch, _ := st.Child(k)
		// done_when dropped: the wave is over once each drop went through.
		require.True(t, ch.Done, k)
		require.True(t, ch.Phase.PastDrop(), "%s of the beta wave is in %s", k, ch.Phase)
		require.NotEmpty(t, ch.Archive, k)
	}
	secondWaveUntouched(st)
	for _, o := range objects {
		id := workflows.WorkflowID(o.conn, o.db)
		require.Equal(t, slices.Contains(beta, key(o)), exists(id), "workflow %s exists", id)
		require.Equal(t, !slices.Contains(beta, key(o)), h.schemaExists(o.db), "database %s", o.db)
	}
	// At the wave boundary the fleet continues as new, and the new run waits on.
	st = drive("the fleet hands over to a new run at the wave boundary", time.Minute, func(st workflows.FleetStatus) {
		require.Equal(t, workflows.FleetWaiting, st.Phase)
		secondWaveUntouched(st)
	}, func(st workflows.FleetStatus) bool { return st.RunCount >= 2 })
	require.NotEmpty(t, st.Runs)
	require.Equal(t, "wave 1 done", st.Runs[0].Reason)
	text := h.retire("fleet", "status", name)
	require.True(t, strings.HasPrefix(text, "phase: waiting\nwaiting: "), text)
	require.Contains(t, text, "\nnext: wave 2 of 2 (all the others, 4 objects) waits for a proven go:")

	// A go without proof is refused and starts nothing; dba's signed go starts wave 2.
	out, err = h.retireErr("fleet", "proceed", name, "--as", "dba")
	require.Error(t, err, out)
	require.Contains(t, out, "carries no proof")
	out = h.retire("fleet", "proceed", name, "--as", "dba", "--note", "the beta wave went well", "--sign-with", keys["dba"])
	require.Contains(t, out, "go for wave 2 of 2 (all the others, 4 objects) given by dba (verified: SSH signature by SHA256:")

	st = drive("every retirement is done and the fleet has ended", 3*time.Minute, func(workflows.FleetStatus) {}, func(st workflows.FleetStatus) bool {
		return st.Phase == workflows.FleetDone
	})
	// The fleet's workflow ends once its record is written: its result is its last status,
	// and status reads it from there.
	wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var result workflows.FleetStatus
	require.NoError(t, c.GetWorkflow(wctx, workflows.FleetWorkflowID(name), "").Get(wctx, &result), "the fleet's workflow did not complete")
	wcancel()
	st, ok := status()
	require.True(t, ok)
	require.Equal(t, result.RunID, st.RunID)
	t.Logf("%s: fleet done: %s (runs %d, longest history %d events)", time.Since(began).Round(time.Second), st.Outcome, st.RunCount, st.MaxEvents)
	require.Equal(t, "done: 6 retired, 0 failed, 0 excluded", st.Outcome)
	require.Empty(t, st.Failures)
	for _, o := range objects {
		ch, ok := st.Child(key(o))
		require.True(t, ok)
		require.Equal(t, workflows.PhaseDone, ch.Phase, key(o))
		require.False(t, h.schemaExists(o.db), "database %s is still there", o.db)
	}
	require.Len(t, st.Waves, 2)
	require.NotNil(t, st.Waves[1].Proceed)
	require.Equal(t, "dba", st.Waves[1].Proceed.By)
	require.Equal(t, proof.MethodSSH, st.Waves[1].Proceed.Verified.Method)
	require.NotNil(t, st.RequesterVerified)
	require.Equal(t, proof.MethodSSH, st.RequesterVerified.Method)

	// The fleet's record, read from MinIO, lists the six with their verified archives, and
	// each archive verifies on its own.
	require.NotNil(t, st.RecordKeys, "the fleet wrote no record")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bucket, err := archive.NewStore(ctx, archive.StoreConfig{Endpoint: h.s3.Endpoint, AccessKey: h.s3.AccessKey, SecretKey: h.s3.SecretKey, Bucket: "retire-e2e"})
	require.NoError(t, err)
	r, err := bucket.Get(ctx, st.RecordKeys.JSONKey)
	require.NoError(t, err)
	raw, err := io.ReadAll(r)
	r.Close()
	require.NoError(t, err)
	var rec workflows.FleetStatus
	require.NoError(t, json.Unmarshal(raw, &rec))
	require.Equal(t, workflows.FleetDone, rec.Phase)
	require.Len(t, rec.Objects, 6)
	for _, ch := range rec.Objects {
		require.Equal(t, workflows.PhaseDone, ch.Phase, ch.Key())
		require.NotEmpty(t, ch.Archive, "%s: the record lists no verified archive", ch.Key())
		b, k, err := archive.ParseURL(ch.Archive)
		require.NoError(t, err, ch.Key())
		require.Equal(t, "retire-e2e", b)
		v, err := archive.Verify(ctx, bucket, k)
		require.NoError(t, err, ch.Key())
		require.True(t, v.OK, "%s: archive problems: %v", ch.Key(), v.Problems)
		require.EqualValues(t, 3, v.Rows, ch.Key())
	}
	md, err := bucket.Get(ctx, st.RecordKeys.MarkdownKey)
	require.NoError(t, err)
	mdText, err := io.ReadAll(md)
	md.Close()
	require.NoError(t, err)
	require.Contains(t, string(mdText), "Fleet retirement `"+name+"`")

	// RetireFleet = "<name>" lists the fleet and its six retirements.
	want := []string{workflows.FleetWorkflowID(name)}
	for _, o := range objects {
		want = append(want, workflows.WorkflowID(o.conn, o.db))
	}
	slices.Sort(want)
	var listed []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		lctx, lcancel := context.WithTimeout(context.Background(), 30*time.Second)
		resp, err := c.ListWorkflow(lctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("RetireFleet = %q", name), PageSize: 100})
		lcancel()
		require.NoError(t, err)
		listed = nil
		for _, e := range resp.GetExecutions() {
			if id := e.GetExecution().GetWorkflowId(); !slices.Contains(listed, id) {
				listed = append(listed, id)
			}
			if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				listed = append(listed, "running: "+e.GetExecution().GetWorkflowId())
			}
		}
		slices.Sort(listed)
		if slices.Equal(listed, want) {
			break
		}
		require.False(t, time.Now().After(deadline), "RetireFleet = %q lists %v, want %v (all closed)", name, listed, want)
	}
	t.Logf("%s: all checks passed", time.Since(began).Round(time.Second))
}

// staleAfter is how long the fleet's view may stay the same before the test compares it
// with what each retirement says of itself: with windows of seconds, something moves every
// few seconds.
const staleAfter = 15 * time.Second

// requireFleetViewCurrent fails when the fleet's view of a running retirement is not what
// the retirement says of itself: the people who act on the fleet's status would wait for
// ever.
func (h *harness) requireFleetViewCurrent(st workflows.FleetStatus) {
	h.t.Helper()
	for _, ch := range st.Objects {
		if !ch.Started || ch.Ended() {
			continue
		}
		out, err := h.retireErr("status", ch.Connection, ch.Object, "-o", "json")
		if err != nil {
			continue
		}
		var own workflows.Status
		require.NoError(h.t, json.Unmarshal([]byte(out), &own), out)
		if own.Phase != ch.Phase || own.Waiting != ch.Waiting {
			h.t.Fatalf("the fleet's view of %s is stale for %s: the fleet shows phase %s, waiting %q; the retirement itself is in phase %s, waiting %q "+
				"(a report from the retirement was lost or overtaken by an older one)", ch.Key(), staleAfter, ch.Phase, ch.Waiting, own.Phase, own.Waiting)
		}
	}
}

func (h *harness) schemaExists(db string) bool {
	var n int
	require.NoError(h.t, h.db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", db).Scan(&n))
	return n > 0
}

func childrenText(st workflows.FleetStatus) string {
	var parts []string
	for _, ch := range st.Objects {
		s := fmt.Sprintf("%s=%s", ch.Key(), orNone(string(ch.Phase)))
		if ch.Waiting != "" {
			s += fmt.Sprintf(" (waiting %q)", ch.Waiting)
		}
		if ch.Slot != "" {
			s += " slot " + ch.Slot
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// signals lists the signals a workflow's latest run sent and received, for the log of a
// failed test: the fleet and its retirements talk through them.
func (h *harness) signals(id string) string {
	c, err := client.Dial(client.Options{HostPort: h.temporal.Address})
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var b strings.Builder
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return b.String() + err.Error()
		}
		var what, data string
		switch {
		case e.GetSignalExternalWorkflowExecutionInitiatedEventAttributes() != nil:
			a := e.GetSignalExternalWorkflowExecutionInitiatedEventAttributes()
			what = "send " + a.GetSignalName() + " to " + a.GetWorkflowExecution().GetWorkflowId()
			for _, p := range a.GetInput().GetPayloads() {
				data += string(p.GetData())
			}
		case e.GetExternalWorkflowExecutionSignaledEventAttributes() != nil:
			what = fmt.Sprintf("sent (initiated by event %d)", e.GetExternalWorkflowExecutionSignaledEventAttributes().GetInitiatedEventId())
		case e.GetSignalExternalWorkflowExecutionFailedEventAttributes() != nil:
			a := e.GetSignalExternalWorkflowExecutionFailedEventAttributes()
			what = fmt.Sprintf("send FAILED (initiated by event %d): %s", a.GetInitiatedEventId(), a.GetCause())
		case e.GetWorkflowExecutionSignaledEventAttributes() != nil:
			a := e.GetWorkflowExecutionSignaledEventAttributes()
			what = "received " + a.GetSignalName()
			for _, p := range a.GetInput().GetPayloads() {
				data += string(p.GetData())
			}
		default:
			continue
		}
		fmt.Fprintf(&b, "  %d %s %s %s\n", e.GetEventId(), e.GetEventTime().AsTime().Format("15:04:05.000"), what, data)
	}
	return b.String()
}
