package activities

import (
	"context"
	"slices"
	"strings"

	"github.com/dataretire/retire/owners"
	"github.com/dataretire/retire/proof"
)

// signers resolves who may decide about this retirement from the owners directory, and pins
// their keys. The request may add people, but only people the directory knows, and they do not
// sign off: the requester must not be able to choose who signs.
func (a *Activities) signers(ctx context.Context, in PlanInput) (*Signers, error) {
	portal, err := a.cfg.Signoff.Keys()
	if err != nil {
		return nil, refuse("%v", err)
	}
	pins := proof.Pins{PortalKeys: portal, AcceptUnproven: a.policy.Dev && !a.cfg.Signoff.RequireProof}
	src := a.cfg.Owners
	if !src.Configured() {
		if !pins.AcceptUnproven {
			return nil, refuse("no owners directory is declared, so nobody could prove to own %s/%s: declare owners under owners: in the worker's config (people with owns: and ssh_keys:, or a file: or url:)", in.Connection, in.Object)
		}
		// A dev worker without a directory takes the request's word for who owns what,
		// and the record says so.
		s := &Signers{Owners: clean(in.Owners), Requester: strings.TrimSpace(in.Requester), Pins: pins, Unlisted: true,
			From: "the request (dev worker without an owners directory: nothing proves who the owners are)"}
		return s, nil
	}
	dir, err := owners.Load(ctx, src)
	if err != nil {
		return nil, refuse("%v", err)
	}
	s := &Signers{Pins: pins, From: dir.From}
	add := func(p owners.Person) {
		if _, ok := s.Pins.Person(p.ID); !ok {
			s.Pins.People = append(s.Pins.People, p.Pinned())
		}
	}
	for _, p := range dir.OwnersOf(in.Connection, in.Object) {
		s.Owners = append(s.Owners, p.ID)
		add(p)
	}
	for _, name := range clean(in.Owners) {
		p, ok := dir.Find(name)
		if !ok {
			return nil, refuse("owner %q is not in the owners directory (%s): --owner may only add people declared there", name, dir.From)
		}
		if !slices.ContainsFunc(append(s.Owners, s.Added...), func(o string) bool { return strings.EqualFold(o, p.ID) }) {
			s.Added = append(s.Added, p.ID)
		}
		add(p)
	}
	requester := strings.TrimSpace(in.Requester)
	if p, ok := dir.Find(requester); ok {
		s.Requester = p.ID
		add(p)
	} else if !pins.AcceptUnproven {
		return nil, refuse("requester %q is not in the owners directory (%s): a production worker only takes retirements whose requester can prove who they are", requester, dir.From)
	} else {
		s.Requester = requester
	}
	for _, p := range dir.People {
		if p.DBA {
			s.DBAs = append(s.DBAs, p.ID)
			add(p)
		}
	}
	if in.NeedsSignoff && !slices.ContainsFunc(s.Owners, func(o string) bool { return !strings.EqualFold(o, s.Requester) }) {
		return nil, refuse("no owner of %s/%s other than the requester is declared in the owners directory (%s): declare one under owners.people[].owns (connection %s, objects [%s])",
			in.Connection, in.Object, dir.From, in.Connection, in.Object)
	}
	return s, nil
}

func clean(names []string) []string {
	var out []string
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" && !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, n) }) {
			out = append(out, n)
		}
	}
	return out
}
