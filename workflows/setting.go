package workflows

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/engine"
)

// SettingKeeperName is the workflow that keeps one server-wide setting (MariaDB's
// userstat) switched on for as long as any retirement on the server needs it.
const SettingKeeperName = activities.SettingKeeperWorkflow

// SettingKeeper is the reference count of a server setting that retire switches on for the
// sampling windows. Without it, each retirement switched it on and back off on its own:
// the first to end switched it off under its neighbours, whose evidence then said the
// counters were off and waited for a person. Now every retirement that needs the setting
// holds it here (a signal, started with the keeper if none runs, then the query
// "holding" until it is taken): the first hold switches it on and remembers how it was,
// the last release (a signal too) puts it back, and the keeper ends.
//
// One keeper per server and variable (activities.SettingKeeperID): every connection
// profile and every worker reaching the server meets the same one.
func SettingKeeper(ctx workflow.Context, st activities.KeeperState) error {
	k := &keeper{st: st,
		holds:    workflow.GetSignalChannel(ctx, activities.SignalHoldSetting),
		releases: workflow.GetSignalChannel(ctx, activities.SignalReleaseSetting),
	}
	if k.st.Holders == nil {
		k.st.Holders = map[string]activities.Holding{}
	}
	if k.st.Refused == nil {
		k.st.Refused = map[string]string{}
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, activities.UpdateHoldSetting, k.hold,
		workflow.UpdateHandlerOptions{Validator: validHold}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, activities.UpdateReleaseSetting, k.release,
		workflow.UpdateHandlerOptions{Validator: validRelease}); err != nil {
		return err
	}
	if err := workflow.SetQueryHandler(ctx, "setting", func() (activities.KeeperState, error) { return k.st, nil }); err != nil {
		return err
	}
	if err := workflow.SetQueryHandler(ctx, activities.QueryHolding, k.holding); err != nil {
		return err
	}
	workflow.Go(ctx, k.follow)
	for {
		k.describe(ctx)
		// Idle: nobody holds it and it is as it was. A keeper started by a hold that is
		// still on its way waits for it (the hold arrives with the start). Nobody holds it
		// but it is still on: the last release could not put it back; try again later.
		stranded := func() bool { return len(k.st.Holders) == 0 && k.st.On }
		woke, err := workflow.AwaitWithTimeout(ctx, holdersEvery, func() bool {
			return k.quiet() && (k.idle() && k.st.Holds > 0 || stranded() || long(ctx))
		})
		if err != nil {
			return err
		}
		if !woke {
			k.releaseVanished(ctx)
			continue
		}
		if stranded() && !long(ctx) {
			if err := workflow.Sleep(ctx, 10*time.Minute); err != nil {
				return err
			}
			if _, err := k.release(ctx, ""); err != nil {
				workflow.GetLogger(ctx).Error("Could not put the setting back; trying again", "error", err)
			}
			continue
		}
		if !k.idle() {
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && k.quiet() }); err != nil {
				return err
			}
			return workflow.NewContinueAsNewError(ctx, SettingKeeperName, k.st)
		}
		if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
			return err
		}
		if k.idle() && k.quiet() {
			return nil
		}
	}
}

type keeper struct {
	st activities.KeeperState
	// busy is true while a handler switches the setting: holds and releases take turns.
	busy bool
	// holds and releases are the signals; taking is true while follow handles one.
	holds, releases workflow.ReceiveChannel
	taking          bool
	// releasing is the holder whose release is putting the setting back.
	releasing string
}

// quiet is when the keeper may end or start over: no switch under way, and no hold or
// release received and not yet handled (it would be lost with the run).
func (k *keeper) quiet() bool {
	return !k.busy && !k.taking && k.holds.Len() == 0 && k.releases.Len() == 0
}

// follow takes the holds and releases, one at a time, holds first. It waits on the
// channels' lengths and takes with ReceiveAsync, never with a blocking receive: a signal
// that finds a receiver waiting is handed to it and leaves the channel at once, so the
// keeper, seeing the channel empty before follow had run, took itself for quiet and
// started over (or ended) without it. One hold in a thousand was lost so.
func (k *keeper) follow(ctx workflow.Context) {
	if workflow.GetVersion(ctx, "keeper-takes-from-the-channel", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		k.followByHandOver(ctx)
		return
	}
	for {
		if err := workflow.Await(ctx, func() bool { return k.holds.Len() > 0 || k.releases.Len() > 0 }); err != nil {
			return
		}
		var h activities.Hold
		if k.holds.ReceiveAsync(&h) {
			k.takeHold(ctx, h)
			continue
		}
		var holder string
		if k.releases.ReceiveAsync(&holder) {
			k.takeRelease(ctx, holder)
		}
	}
}

// followByHandOver is how runs started before keeper-takes-from-the-channel took the
// signals (a selector, which can lose one as it starts over); kept so that they replay.
func (k *keeper) followByHandOver(ctx workflow.Context) {
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(k.holds, func(ch workflow.ReceiveChannel, _ bool) {
		var h activities.Hold
		ch.Receive(ctx, &h)
		k.takeHold(ctx, h)
	})
	sel.AddReceive(k.releases, func(ch workflow.ReceiveChannel, _ bool) {
		var holder string
		ch.Receive(ctx, &holder)
		k.takeRelease(ctx, holder)
	})
	for {
		sel.Select(ctx)
	}
}

func (k *keeper) takeHold(ctx workflow.Context, h activities.Hold) {
	if validHold(h) != nil {
		workflow.GetLogger(ctx).Warn("A hold without its holder, connection or source; ignored", "hold", h)
		return
	}
	k.taking = true
	defer func() { k.taking = false }()
	if _, err := k.hold(ctx, h); err != nil {
		k.st.Refused[h.Holder] = "the keeper could not switch it on: " + err.Error()
	}
}

func (k *keeper) takeRelease(ctx workflow.Context, holder string) {
	if holder == "" {
		return
	}
	k.taking = true
	defer func() { k.taking = false }()
	if _, err := k.release(ctx, holder); err != nil {
		workflow.GetLogger(ctx).Error("Could not put the setting back; trying again later", "error", err)
	}
}

// holding answers whether holder's hold is in (a last release that is putting the
// setting back still holds it: its holder waits for that to end).
func (k *keeper) holding(holder string) (activities.HoldingAnswer, error) {
	if holder != "" && holder == k.releasing {
		return activities.HoldingAnswer{Held: true, Change: k.st.Change}, nil
	}
	if _, ok := k.st.Holders[holder]; ok && k.st.On {
		return activities.HoldingAnswer{Held: true, Change: k.st.Change}, nil
	}
	return activities.HoldingAnswer{Refused: k.st.Refused[holder]}, nil
}

func (k *keeper) idle() bool { return len(k.st.Holders) == 0 && !k.st.On }

func validHold(h activities.Hold) error {
	if h.Holder == "" || h.Connection == "" || h.Source == "" {
		return errors.New("a hold names its holder, connection and source")
	}
	return nil
}

func validRelease(holder string) error {
	if holder == "" {
		return errors.New("a release names its holder")
	}
	return nil
}

// keeperOptions: switching a setting is one statement; a server that does not answer is
// retried for a while, then the holder is told (its sampling then says the source is off).
var keeperOptions = workflow.ActivityOptions{
	StartToCloseTimeout: time.Minute,
	RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: time.Minute, MaximumAttempts: 10, NonRetryableErrorTypes: nonRetryable},
}

// hold adds the holder; the first switches the setting on.
func (k *keeper) hold(ctx workflow.Context, h activities.Hold) (engine.SettingChange, error) {
	if err := workflow.Await(ctx, func() bool { return !k.busy }); err != nil {
		return engine.SettingChange{}, err
	}
	k.busy = true
	defer func() { k.busy = false }()
	if !k.st.On {
		opts := keeperOptions
		opts.Summary = fmt.Sprintf("Switch on %s through %s for %s", h.Source, h.Connection, h.Holder)
		var ch engine.SettingChange
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), a.SwitchSourceOn, h).Get(ctx, &ch); err != nil {
			return engine.SettingChange{}, err
		}
		k.st.Change, k.st.On, k.st.Connection = ch, true, h.Connection
	}
	k.st.Holders[h.Holder] = activities.Holding{RunID: h.RunID, Connection: h.Connection}
	delete(k.st.Refused, h.Holder)
	k.st.Holds++
	k.describe(ctx)
	return k.st.Change, nil
}

// release removes the holder (twice is once); the last puts the setting back as the first
// hold found it.
func (k *keeper) release(ctx workflow.Context, holder string) (bool, error) {
	if err := workflow.Await(ctx, func() bool { return !k.busy }); err != nil {
		return false, err
	}
	k.busy = true
	defer func() { k.busy = false }()
	delete(k.st.Holders, holder)
	delete(k.st.Refused, holder)
	if len(k.st.Holders) > 0 || !k.st.On {
		k.describe(ctx)
		return false, nil
	}
	k.releasing = holder
	defer func() { k.releasing = "" }()
	opts := keeperOptions
	opts.Summary = fmt.Sprintf("Put %s back to %s: no retirement needs it any more", k.st.Change.Variable, k.st.Change.Before)
	in := activities.RestoreSettingsInput{Target: activities.Target{Connection: k.st.Connection}, Changes: []engine.SettingChange{k.st.Change}}
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), a.RestoreSettings, in).Get(ctx, nil); err != nil {
		return false, err
	}
	k.st.On = false
	k.describe(ctx)
	return true, nil
}

// holdersEvery is how often the keeper looks for holders that ended without releasing (an
// operator terminated them): without the look, the setting would stay on for ever.
const holdersEvery = time.Hour

// releaseVanished releases the holders Temporal says are closed.
func (k *keeper) releaseVanished(ctx workflow.Context) {
	if k.busy || len(k.st.Holders) == 0 {
		return
	}
	var runs []activities.FleetChildRun
	for id, h := range k.st.Holders {
		runs = append(runs, activities.FleetChildRun{WorkflowID: id, RunID: h.RunID})
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].WorkflowID < runs[j].WorkflowID })
	opts := watchOptions
	opts.Summary = fmt.Sprintf("Look for retirements that ended holding %s (%d holders)", k.st.Change.Variable, len(runs))
	var res activities.FleetChildrenResult
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), ActivityCheckFleetChildren, activities.FleetChildrenInput{Children: runs}).Get(ctx, &res); err != nil {
		workflow.GetLogger(ctx).Warn("Could not look for holders that ended; trying again later", "error", err)
		return
	}
	for _, c := range res.Closed {
		if h, ok := k.st.Holders[c.WorkflowID]; ok && h.RunID == c.RunID {
			workflow.GetLogger(ctx).Warn("A retirement ended without releasing the setting", "holder", c.WorkflowID, "status", c.Status, "reason", c.Reason)
			if _, err := k.release(ctx, c.WorkflowID); err != nil {
				workflow.GetLogger(ctx).Error("Could not put the setting back; trying again", "error", err)
			}
		}
	}
}

func (k *keeper) describe(ctx workflow.Context) {
	holders := make([]string, 0, len(k.st.Holders))
	for h := range k.st.Holders {
		holders = append(holders, h)
	}
	sort.Strings(holders)
	text := fmt.Sprintf("**%s** %s for %d retirement(s); put back to %s when the last one ends.", k.st.Change.Variable, onOff(k.st.On), len(holders), k.st.Change.Before)
	for i, h := range holders {
		if i == 20 {
			text += fmt.Sprintf("\n- … and %d more", len(holders)-20)
			break
		}
		text += "\n- " + h
	}
	workflow.SetCurrentDetails(ctx, text)
}

// long is when the keeper starts over: a thousand retirements are two thousand updates.
func long(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > 2000
}

func onOff(on bool) string {
	if on {
		return "kept on"
	}
	return "as it was"
}
