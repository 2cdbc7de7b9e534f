package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/dataretire/retire/activities/engine"
)

// SampleProgress is the heartbeat of SampleClients: a retry resumes from it, and
// `retire status` shows it.
type SampleProgress struct {
	Looks int              `json:"looks"`
	Seen  []engine.Session `json:"seen"`
}

// SampleClients watches who connects to the object until in.Until, looking many times a
// minute (one look misses short connections), and returns every client seen, folded into
// what earlier days saw.
func (a *Activities) SampleClients(ctx context.Context, in SampleInput) (SampleResult, error) {
	ad, err := a.adapter(in.Connection)
	if err != nil {
		return SampleResult{}, err
	}
	seen, looks := in.Seen, 0
	var hb SampleProgress
	if activity.HasHeartbeatDetails(ctx) && activity.GetHeartbeatDetails(ctx, &hb) == nil {
		seen, looks = hb.Seen, hb.Looks
		activity.GetLogger(ctx).Info("Resuming sampling from the last heartbeat", "looks", looks, "clients", len(seen))
	}
	acc := engine.NewSampler(seen)
	last := time.Now()
	acc.OnLook = func(n int) {
		if time.Since(last) >= 5*time.Second {
			last = time.Now()
			activity.RecordHeartbeat(ctx, SampleProgress{Looks: looks + n, Seen: acc.Result()})
		}
	}
	if err := ad.Watch(ctx, in.Object, in.Until, acc); err != nil {
		activity.RecordHeartbeat(ctx, SampleProgress{Looks: looks + acc.Looks(), Seen: acc.Result()})
		return SampleResult{}, classify(err)
	}
	return SampleResult{Seen: acc.Result(), Looks: looks + acc.Looks()}, nil
}
