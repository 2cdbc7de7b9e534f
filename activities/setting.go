package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/dataretire/retire/activities/engine"
)

// How retirements talk to the setting keeper (workflows.SettingKeeper).
const (
	// SignalHoldSetting (a Hold) and SignalReleaseSetting (the holder's workflow id) are
	// how holds and releases arrive: signals, which Temporal takes durably and in any
	// number. (Updates were first: at a thousand retirements on one server the keeper
	// met Temporal's limit of 10 updates in flight per workflow, updates were aborted by
	// the thousand, and an update's speculative task once waited for minutes.)
	SignalHoldSetting    = "hold-setting"
	SignalReleaseSetting = "release-setting"
	// QueryHolding (the holder's workflow id) answers a HoldingAnswer.
	QueryHolding = "holding"
	// UpdateHoldSetting and UpdateReleaseSetting are the Updates of keepers started
	// before the signals; a keeper still takes them.
	UpdateHoldSetting    = "hold"
	UpdateReleaseSetting = "release"
	// SettingKeeperWorkflow is the keeper's registered name (workflows.SettingKeeperName).
	SettingKeeperWorkflow = "RetireSettingKeeper"
)

// HoldingAnswer is the keeper's answer to QueryHolding: whether the holder's hold is in,
// with the change the keeper made, or why it could not switch the setting on.
type HoldingAnswer struct {
	Held    bool                 `json:"held"`
	Change  engine.SettingChange `json:"change"`
	Refused string               `json:"refused,omitempty"`
}

// KeeperState is what a setting keeper knows, carried across its continue-as-new.
type KeeperState struct {
	// Holders are the retirements (workflow ids) that need the setting: the run that holds
	// it, and the connection profile it reaches the server through.
	Holders map[string]Holding `json:"holders"`
	// Change is how the first hold found the setting, and what it made of it.
	Change engine.SettingChange `json:"change"`
	// On is true while the keeper has it as Change.After; Connection is the profile it
	// switched it through (and puts it back through).
	On         bool   `json:"on"`
	Connection string `json:"connection,omitempty"`
	Holds      int    `json:"holds"`
	// Refused are the holders whose hold could not switch the setting on, with why, until
	// they hold again or release.
	Refused map[string]string `json:"refused,omitempty"`
}

// Holding is one retirement's hold.
type Holding struct {
	RunID      string `json:"run_id,omitempty"`
	Connection string `json:"connection"`
}

// Hold asks the keeper for a source on behalf of a retirement (the run of workflow Holder).
type Hold struct {
	Holder     string `json:"holder"`
	RunID      string `json:"run_id,omitempty"`
	Connection string `json:"connection"`
	Source     string `json:"source"`
}

// SettingKeeperID names the keeper of variable on the server with serverID.
func SettingKeeperID(serverID, variable string) string {
	return "retire-setting:" + strings.TrimSpace(serverID) + ":" + variable
}

// settingOf is what an engine implements whose dynamic sources are server-wide settings:
// the variable behind a source, so that two sources of one variable share a keeper.
type settingOf interface {
	SettingOf(source string) string
}

// Keep makes the worker share server settings among retirements through setting keepers,
// with the Temporal client c.
func Keep(c client.Client, taskQueue string) Option {
	return func(a *Activities) { a.keep = &keeping{client: c, queue: taskQueue} }
}

type keeping struct {
	client client.Client
	queue  string
}

// SwitchSourceOn is the keeper's: it switches the source on for the first holder.
func (a *Activities) SwitchSourceOn(ctx context.Context, h Hold) (engine.SettingChange, error) {
	p, _, err := a.prober(h.Connection)
	if err != nil {
		return engine.SettingChange{}, err
	}
	ch, err := p.EnableSource(ctx, h.Source)
	return ch, classify(err)
}

// holdSource holds source on the server for the running retirement, through its keeper,
// and returns the change the keeper made (Keeper set: the keeper puts it back, not the
// retirement). ok is false when this worker keeps no settings or the engine's sources are
// not server variables: then the retirement switches it itself, as before.
func (a *Activities) holdSource(ctx context.Context, p engine.EvidenceProber, serverID string, holder Hold) (ch engine.SettingChange, ok bool, err error) {
	so, isSetting := p.(settingOf)
	if a.keep == nil || serverID == "" || !isSetting {
		return engine.SettingChange{}, false, nil
	}
	source := holder.Source
	id := SettingKeeperID(serverID, so.SettingOf(source))
	send := func() error {
		_, err := a.keep.client.SignalWithStartWorkflow(ctx, id, SignalHoldSetting, holder, client.StartWorkflowOptions{
			ID: id, TaskQueue: a.keep.queue,
			StaticSummary: "Keeps " + so.SettingOf(source) + " on while retirements on the server need it",
		}, SettingKeeperWorkflow, KeeperState{})
		return err
	}
	if err := send(); err != nil {
		return engine.SettingChange{}, true, fmt.Errorf("hold %s through %s: %w", source, id, err)
	}
	if ch, err = a.awaitHold(ctx, id, holder.Holder, send); err != nil {
		return engine.SettingChange{}, true, fmt.Errorf("hold %s through %s: %w", source, id, err)
	}
	ch.Source, ch.Keeper = source, id
	return ch, true, nil
}

// awaitHold asks the keeper until it has taken the hold (the setting is then on) or says
// why it could not; ctx bounds the wait.
//
// A hold the keeper still does not count after holdResend is sent again (a hold is taken
// twice as once). The keeper once lost one hold in a thousand as it continued as new (a
// signal handed to a waiting receiver left its channel, and the keeper took itself for
// quiet; mended in the keeper and tested there); the resend is what a holder does should
// anything else ever lose one, rather than wait for ever.
func (a *Activities) awaitHold(ctx context.Context, keeper, holder string, resend func() error) (engine.SettingChange, error) {
	sent := time.Now()
	var change engine.SettingChange
	var refused, last error
	err := a.askHolding(ctx, keeper, holder, func(ans HoldingAnswer, err error) bool {
		last = err
		switch {
		case err == nil && ans.Held:
			change = ans.Change
			return true
		case err == nil && ans.Refused != "":
			refused = errors.New(ans.Refused)
			return true
		}
		if time.Since(sent) > holdResend {
			// Said in the worker's log, so that a run can count them (none at N=1000).
			if activity.IsActivity(ctx) {
				activity.GetLogger(ctx).Warn(HoldSentAgain, "keeper", keeper, "holder", holder, "after", holdResend)
			}
			_ = resend() // a failure is retried at the next resend
			sent = time.Now()
		}
		return false
	})
	switch {
	case refused != nil:
		return engine.SettingChange{}, refused
	case err != nil && last != nil:
		return engine.SettingChange{}, fmt.Errorf("%w (%v)", last, err)
	case err != nil:
		return engine.SettingChange{}, fmt.Errorf("the keeper has not taken the hold (%w)", err)
	}
	return change, nil
}

// askHolding asks the keeper what it says of holder until enough says so, or ctx ends.
// The first answers come quickly (the first hold switches the setting, the others only
// join), then the asking slows down, so that a thousand holders arriving at once ask a
// few times each.
func (a *Activities) askHolding(ctx context.Context, keeper, holder string, enough func(HoldingAnswer, error) bool) error {
	pause := 100 * time.Millisecond
	for {
		var ans HoldingAnswer
		v, err := a.keep.client.QueryWorkflow(ctx, keeper, "", QueryHolding, holder)
		if err == nil {
			err = v.Get(&ans)
		}
		if enough(ans, err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 3*time.Second)
	}
}

// releaseSource gives the retirement's hold back; the keeper puts the setting back once
// nobody holds it (and tries again until it could). The release is Temporal's to deliver
// once it has taken the signal. A keeper that is gone has nothing left to release.
func (a *Activities) releaseSource(ctx context.Context, ch engine.SettingChange, holder string) error {
	if a.keep == nil {
		return errors.New("this worker keeps no settings, and " + ch.Keeper + " holds " + ch.Variable + ": run a worker that does")
	}
	err := a.keep.client.SignalWorkflow(ctx, ch.Keeper, "", SignalReleaseSetting, holder)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release %s through %s: %w", ch.Variable, ch.Keeper, err)
	}
	a.awaitRelease(ctx, ch.Keeper, holder)
	return nil
}

// HoldSentAgain is the worker's log line for a hold sent again (bench-fleet counts them).
const HoldSentAgain = "The setting keeper has not counted this hold; sending it again"

// holdResend is how long a hold may go uncounted before it is sent again.
const holdResend = 30 * time.Second

// releaseWait bounds how long a release waits for the keeper to have taken it.
const releaseWait = 2 * time.Minute

// awaitRelease waits, for at most releaseWait, until the keeper no longer counts the
// holder (the last release: until the setting is back), so that a retirement ends with
// the setting as it should be; past that the keeper is on its own (it has the signal).
func (a *Activities) awaitRelease(ctx context.Context, keeper, holder string) {
	ctx, cancel := context.WithTimeout(ctx, releaseWait)
	defer cancel()
	_ = a.askHolding(ctx, keeper, holder, func(ans HoldingAnswer, err error) bool {
		var nf *serviceerror.NotFound
		return errors.As(err, &nf) || err == nil && !ans.Held // a keeper that ended has put it back
	})
}
