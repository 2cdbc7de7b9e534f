package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/dataretire/retire/activities/engine"
)

// The Updates of the setting keeper (workflows.SettingKeeper).
const (
	UpdateHoldSetting    = "hold"
	UpdateReleaseSetting = "release"
	// SettingKeeperWorkflow is the keeper's registered name (workflows.SettingKeeperName).
	SettingKeeperWorkflow = "RetireSettingKeeper"
)

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
	start := a.keep.client.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID: id, TaskQueue: a.keep.queue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "Keeps " + so.SettingOf(source) + " on while retirements on the server need it",
	}, SettingKeeperWorkflow, KeeperState{})
	h, err := a.keep.client.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName: UpdateHoldSetting, WaitForStage: client.WorkflowUpdateStageCompleted,
			Args: []any{holder},
		},
	})
	if err != nil {
		return engine.SettingChange{}, true, fmt.Errorf("hold %s through %s: %w", source, id, err)
	}
	if err := h.Get(ctx, &ch); err != nil {
		return engine.SettingChange{}, true, fmt.Errorf("hold %s through %s: %w", source, id, err)
	}
	ch.Source, ch.Keeper = source, id
	return ch, true, nil
}

// releaseSource gives the retirement's hold back; the keeper puts the setting back once
// nobody holds it. A keeper that is gone has nothing left to release.
func (a *Activities) releaseSource(ctx context.Context, ch engine.SettingChange, holder string) error {
	if a.keep == nil {
		return errors.New("this worker keeps no settings, and " + ch.Keeper + " holds " + ch.Variable + ": run a worker that does")
	}
	h, err := a.keep.client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: ch.Keeper, UpdateName: UpdateReleaseSetting, WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{holder},
	})
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil
	}
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("release %s through %s: %w", ch.Variable, ch.Keeper, err)
	}
	return nil
}
