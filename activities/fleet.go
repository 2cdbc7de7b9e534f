package activities

import (
	"context"
	"strings"

	"github.com/dataretire/retire/owners"
	"github.com/dataretire/retire/proof"
)

// FleetPlanInput asks who may steer a fleet: its requester and the directory's DBAs.
type FleetPlanInput struct {
	Requester string `json:"requester"`
	// Store is the store the fleet's record goes to ("": the worker's default).
	Store string `json:"store,omitempty"`
}

// FleetPlan is who may decide about a fleet's waves (proceed, pause, resume, exclude,
// abort), pinned with their keys when the fleet starts; each object's own retirement pins
// its owners in its own plan.
type FleetPlan struct {
	Requester string     `json:"requester"`
	DBAs      []string   `json:"dbas,omitempty"`
	Pins      proof.Pins `json:"pins"`
	From      string     `json:"from"`
	// Store is the store profile the fleet record is written to.
	Store string `json:"store"`
}

// FleetPlan resolves the fleet's deciders from the owners directory, as Plan does for one
// retirement.
func (a *Activities) FleetPlan(ctx context.Context, in FleetPlanInput) (FleetPlan, error) {
	storeName, _, err := a.cfg.Store(in.Store)
	if err != nil {
		return FleetPlan{}, refuse("%v", err)
	}
	portal, err := a.cfg.Signoff.Keys()
	if err != nil {
		return FleetPlan{}, refuse("%v", err)
	}
	fp := FleetPlan{Requester: strings.TrimSpace(in.Requester), Store: storeName,
		Pins: proof.Pins{PortalKeys: portal, AcceptUnproven: a.policy.Dev && !a.cfg.Signoff.RequireProof}}
	if !a.cfg.Owners.Configured() {
		if !fp.Pins.AcceptUnproven {
			return FleetPlan{}, refuse("no owners directory is declared, so nobody could prove who steers the fleet: declare people under owners: in the worker's config")
		}
		fp.From = "the request (dev worker without an owners directory)"
		return fp, nil
	}
	dir, err := owners.Load(ctx, a.cfg.Owners)
	if err != nil {
		return FleetPlan{}, refuse("%v", err)
	}
	fp.From = dir.From
	if p, ok := dir.Find(fp.Requester); ok {
		fp.Requester = p.ID
		fp.Pins.People = append(fp.Pins.People, p.Pinned())
	} else if !fp.Pins.AcceptUnproven {
		return FleetPlan{}, refuse("requester %q is not in the owners directory (%s): a production worker only takes fleets whose requester can prove who they are", in.Requester, dir.From)
	}
	for _, p := range dir.People {
		if !p.DBA {
			continue
		}
		fp.DBAs = append(fp.DBAs, p.ID)
		if _, ok := fp.Pins.Person(p.ID); !ok {
			fp.Pins.People = append(fp.Pins.People, p.Pinned())
		}
	}
	return fp, nil
}

// WriteFleetRecord writes a fleet's record, record.json and record.md under the fleet's own
// path: WriteRecord, under the name the fleet workflow calls.
func (a *Activities) WriteFleetRecord(ctx context.Context, in RecordInput) (RecordLocation, error) {
	return a.WriteRecord(ctx, in)
}
