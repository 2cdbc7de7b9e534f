package activities

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/owners"
)

const aliceKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDfuIjMz0vb5V2Gk9XyOqf3i4h1u5bNq8o5m9Xx0Wcxq alice@laptop"

func directory() owners.Source {
	return owners.Source{People: []owners.Person{
		{ID: "alice@example.com", Name: "Alice", Email: "alice@example.com", SSHKeys: []string{aliceKey}, Owns: []owners.Owns{{Connection: "local", Objects: []string{"shop*"}}}},
		{ID: "bob@example.com", Owns: []owners.Owns{{Connection: "other", Objects: []string{"shop"}}}},
		{ID: "dba@example.com", DBA: true},
		{ID: "REQ1"},
	}}
}

func signersOf(t *testing.T, cfg *config.Config, policy Policy, in PlanInput) (*Signers, error) {
	t.Helper()
	return New(cfg, policy).signers(context.Background(), in)
}

// Owners come from the directory: the request may add people declared there, nobody else.
func TestOwnersComeFromTheDirectory(t *testing.T) {
	cfg := &config.Config{Owners: directory()}
	in := PlanInput{Target: Target{Connection: "local", Object: "shop_eu"}, Requester: "DBA@example.com", NeedsSignoff: true}
	s, err := signersOf(t, cfg, ProductionPolicy, in)
	require.NoError(t, err)
	require.Equal(t, []string{"alice@example.com"}, s.Owners, "bob owns shop on another connection only")
	require.Equal(t, "dba@example.com", s.Requester, "the directory's id, however it was typed")
	require.Equal(t, []string{"dba@example.com"}, s.DBAs)
	require.False(t, s.Pins.AcceptUnproven, "a production worker requires proof")
	p, ok := s.Pins.Person("alice@example.com")
	require.True(t, ok)
	require.Equal(t, []string{aliceKey}, p.SSHKeys, "her keys are pinned")

	in.Owners = []string{"bob@example.com"}
	s, err = signersOf(t, cfg, ProductionPolicy, in)
	require.NoError(t, err)
	require.Equal(t, []string{"alice@example.com"}, s.Owners, "the request does not choose who signs off")
	require.Equal(t, []string{"bob@example.com"}, s.Added)

	in.Owners = []string{"mallory@example.com"}
	_, err = signersOf(t, cfg, ProductionPolicy, in)
	require.ErrorContains(t, err, `owner "mallory@example.com" is not in the owners directory`)
}

func TestADecommissionWithoutAnOwnerInTheDirectoryIsRefused(t *testing.T) {
	cfg := &config.Config{Owners: directory()}
	_, err := signersOf(t, cfg, ProductionPolicy, PlanInput{Target: Target{Connection: "local", Object: "crm"}, Requester: "dba@example.com", NeedsSignoff: true})
	require.ErrorContains(t, err, "no owner of local/crm other than the requester is declared in the owners directory")
	require.ErrorContains(t, err, "owners.people[].owns")
	// A migration needs no sign-off, so no owner.
	_, err = signersOf(t, cfg, ProductionPolicy, PlanInput{Target: Target{Connection: "local", Object: "crm"}, Requester: "dba@example.com"})
	require.NoError(t, err)
	// Nor does adding somebody of the directory make them an owner who signs off.
	_, err = signersOf(t, cfg, ProductionPolicy, PlanInput{Target: Target{Connection: "local", Object: "crm"}, Requester: "dba@example.com", Owners: []string{"alice@example.com"}, NeedsSignoff: true})
	require.ErrorContains(t, err, "other than the requester")
	// The requester as its only owner is no owner: "req1" is "REQ1".
	cfg.Owners.People[3].Owns = []owners.Owns{{Connection: "local", Objects: []string{"crm"}}}
	_, err = signersOf(t, cfg, ProductionPolicy, PlanInput{Target: Target{Connection: "local", Object: "crm"}, Requester: " req1 ", NeedsSignoff: true})
	require.ErrorContains(t, err, "other than the requester")
}

func TestARequesterOutsideTheDirectoryIsRefusedInProduction(t *testing.T) {
	cfg := &config.Config{Owners: directory()}
	in := PlanInput{Target: Target{Connection: "local", Object: "shop"}, Requester: "intern", NeedsSignoff: true}
	_, err := signersOf(t, cfg, ProductionPolicy, in)
	require.ErrorContains(t, err, `requester "intern" is not in the owners directory`)
	s, err := signersOf(t, cfg, DevPolicy, in)
	require.NoError(t, err, "a dev worker takes them at their word")
	require.True(t, s.Pins.AcceptUnproven)
	cfg.Signoff.RequireProof = true
	_, err = signersOf(t, cfg, DevPolicy, in)
	require.ErrorContains(t, err, "not in the owners directory")
}

func TestWithoutADirectory(t *testing.T) {
	in := PlanInput{Target: Target{Connection: "local", Object: "shop"}, Requester: "dba", Owners: []string{"alice"}, NeedsSignoff: true}
	_, err := signersOf(t, &config.Config{}, ProductionPolicy, in)
	require.ErrorContains(t, err, "no owners directory is declared")
	s, err := signersOf(t, &config.Config{}, DevPolicy, in)
	require.NoError(t, err)
	require.True(t, s.Unlisted)
	require.Equal(t, []string{"alice"}, s.Owners)
	require.Contains(t, s.From, "nothing proves who the owners are")
}

func TestTheDirectoryIsReadFromItsFileAtEveryPlan(t *testing.T) {
	file := filepath.Join(t.TempDir(), "owners.yaml")
	write := func(doc string) { require.NoError(t, os.WriteFile(file, []byte(doc), 0o600)) }
	write("people:\n  - id: carol\n    owns: [{connection: local, objects: [shop]}]\n  - id: dba\n")
	cfg := &config.Config{Owners: owners.Source{File: file}}
	in := PlanInput{Target: Target{Connection: "local", Object: "shop"}, Requester: "dba", NeedsSignoff: true}
	s, err := signersOf(t, cfg, ProductionPolicy, in)
	require.NoError(t, err)
	require.Equal(t, []string{"carol"}, s.Owners)
	require.Equal(t, file, s.From)
	write("people:\n  - id: dave\n    owns: [{connection: local, objects: [shop]}]\n  - id: dba\n")
	s, err = signersOf(t, cfg, ProductionPolicy, in)
	require.NoError(t, err)
	require.Equal(t, []string{"dave"}, s.Owners)
	write("people:\n  - id: dave\n    colour: blue\n")
	_, err = signersOf(t, cfg, ProductionPolicy, in)
	require.ErrorContains(t, err, "colour")
}

// A fleet is steered by its requester and the directory's DBAs, pinned with their keys.
func TestFleetDecidersComeFromTheDirectory(t *testing.T) {
	cfg := &config.Config{Owners: directory(), Stores: map[string]config.Store{"s": {Endpoint: "e", Bucket: "b"}}, DefaultStore: "s"}
	fp, err := New(cfg, ProductionPolicy).FleetPlan(context.Background(), FleetPlanInput{Requester: "DBA@example.com"})
	require.NoError(t, err)
	require.Equal(t, "dba@example.com", fp.Requester)
	require.Equal(t, []string{"dba@example.com"}, fp.DBAs)
	require.Len(t, fp.Pins.People, 1, "the requester is the DBA: pinned once")
	require.Equal(t, "s", fp.Store)
	_, err = New(cfg, ProductionPolicy).FleetPlan(context.Background(), FleetPlanInput{Requester: "intern"})
	require.ErrorContains(t, err, `requester "intern" is not in the owners directory`)
	_, err = New(&config.Config{}, ProductionPolicy).FleetPlan(context.Background(), FleetPlanInput{Requester: "dba"})
	require.Error(t, err)
}
