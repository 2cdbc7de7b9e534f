package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/dataretire/retire/proof"
	"github.com/dataretire/retire/workflows"
)

// fakeTemporal holds retirements in memory and checks every decision the way the workflow's
// validators do: the arguments travel as JSON (as through Temporal), and the proof is
// verified with the pinned keys, the workflow id, the current run, the decision's Says, the
// fake's clock and the nonces spent in the run.
type fakeTemporal struct {
	mu      sync.Mutex
	now     func() time.Time
	runs    map[string]*workflows.Status // by workflow id: the current run
	queries []string                     // visibility queries received
	updates []sentUpdate                 // every update that reached the "workflow"
	down    error                        // Check and every call fail with it when set
	refuse  string                       // when set, the validator refuses with it
}

type sentUpdate struct {
	Workflow, Run, Name string
	Verified            *proof.Verified // what the proof proved (nil: refused)
	Err                 error
}

func newFakeTemporal(now func() time.Time) *fakeTemporal {
	return &fakeTemporal{now: now, runs: map[string]*workflows.Status{}}
}

func (f *fakeTemporal) put(st workflows.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs[st.WorkflowID] = &st
}

func (f *fakeTemporal) get(id string) workflows.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.runs[id]
}

func (f *fakeTemporal) sent() []sentUpdate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentUpdate(nil), f.updates...)
}

func (f *fakeTemporal) Status(_ context.Context, id, runID string) (workflows.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		return workflows.Status{}, f.down
	}
	st, ok := f.runs[id]
	if !ok || (runID != "" && runID != st.RunID) {
		return workflows.Status{}, serviceerror.NewNotFound("workflow not found")
	}
	return *st, nil
}

func (f *fakeTemporal) Running(_ context.Context, query string) ([]Listed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		return nil, f.down
	}
	f.queries = append(f.queries, query)
	var out []Listed
	for _, st := range f.runs {
		for _, o := range st.Signers.Owners {
			if query == (workflows.Filter{Owner: o}).Query() && !st.Phase.Ended() {
				out = append(out, Listed{WorkflowID: st.WorkflowID, RunID: st.RunID, Connection: st.Request.Connection, Object: st.Request.Object, Phase: st.Phase, Reason: string(st.Request.Reason)})
			}
		}
	}
	return out, nil
}

func (f *fakeTemporal) Update(_ context.Context, id, runID, name string, arg any) (workflows.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		return workflows.Status{}, f.down
	}
	st, ok := f.runs[id]
	if !ok || (runID != "" && runID != st.RunID) {
		return workflows.Status{}, serviceerror.NewNotFound("workflow not found")
	}
	b, err := json.Marshal(arg)
	if err != nil {
		return workflows.Status{}, err
	}
	record := func(v *proof.Verified, err error) (workflows.Status, error) {
		f.updates = append(f.updates, sentUpdate{Workflow: id, Run: runID, Name: name, Verified: v, Err: err})
		if err != nil {
			return workflows.Status{}, temporal.NewApplicationError(err.Error(), "")
		}
		if v.Nonce != "" {
			st.Nonces = append(st.Nonces, v.Nonce)
		}
		return *st, nil
	}
	verify := func(by string, pr *proof.Proof, says string) (*proof.Verified, error) {
		if f.refuse != "" {
			return nil, errors.New(f.refuse)
		}
		v, err := st.Signers.Pins.Verify(pr, proof.Expect{Decision: name, Workflow: st.WorkflowID, Run: st.RunID, Person: by, Says: says, Now: f.now(), Used: st.Nonces})
		return &v, err
	}
	switch name {
	case workflows.UpdateApprove:
		var d workflows.Signoff
		if err := json.Unmarshal(b, &d); err != nil {
			return workflows.Status{}, err
		}
		v, err := verify(d.By, d.Proof, d.Says())
		if err == nil {
			d.Verified, d.At = v, f.now()
			st.Signoffs = append(st.Signoffs, d)
		}
		return record(v, err)
	case workflows.UpdateObject:
		var d workflows.Objection
		if err := json.Unmarshal(b, &d); err != nil {
			return workflows.Status{}, err
		}
		v, err := verify(d.By, d.Proof, d.Says())
		if err == nil {
			d.Verified, d.At = v, f.now()
			st.Objections = append(st.Objections, d)
		}
		return record(v, err)
	case workflows.UpdateExtend:
		var d workflows.Extension
		if err := json.Unmarshal(b, &d); err != nil {
			return workflows.Status{}, err
		}
		v, err := verify(d.By, d.Proof, d.Says())
		if err == nil {
			d.Verified, d.At = v, f.now()
			st.Extensions = append(st.Extensions, d)
			st.ObserveTotal += d.Extra
			st.ObserveUntil = st.ObserveFrom.Add(st.ObserveTotal)
		}
		return record(v, err)
	}
	return workflows.Status{}, fmt.Errorf("unknown update %q", name)
}

func (f *fakeTemporal) Check(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down
}

// clock is the page's clock in tests: it moves only when a test moves it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
