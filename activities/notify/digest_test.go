package notify

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/proof"
	"github.com/dataretire/retire/testservices"
)

// fleetNotice is a notice of one child of the fleet shop-decom: object dbN on conn, owned by
// alice and bob (bob has no e-mail in the directory), asked by dba.
func fleetNotice(kind Kind, conn string, n int) Event {
	e := event(kind)
	e.Connection, e.Object = conn, fmt.Sprintf("db%02d", n)
	e.WorkflowID, e.RunID = "retire:"+conn+":"+e.Object, fmt.Sprintf("run-%02d", n)
	e.Owners = []string{"alice", "bob"}
	e.Phase = "observe"
	if kind == Dropped {
		e.Phase = "record"
		e.ArchivePath = conn + "/" + e.Object + "/run/"
		e.ArchiveURL = "s3://archive/" + e.ArchivePath
	}
	return e
}

var fleetPeople = []proof.Person{
	{ID: "dba", Name: "Dee Bee", Email: "dee.bee@corp.example"},
	{ID: "alice", Name: "Liddell, Alice", Email: "alice.liddell@corp.example"},
	{ID: "bob", Name: "Bob"},
}

// digestOf is a digest of the given notices, sent a day after they happened.
func digestOf(notices ...Event) Digest {
	return Digest{Key: "retire-fleet:shop-decom/first-run/digest/3", Fleet: "shop-decom", Namespace: "default", WorkflowID: "retire-fleet:shop-decom", RunID: "fleet-run",
		Reason: "decommission", Ticket: "CHG-1234", Requester: "dba", At: at.Add(24 * time.Hour), Every: time.Hour, People: fleetPeople, Notices: notices}
}

// Thirty objects of one owner are one mail to them: each object once, with what it asks of
// them, their own command lines and, with links, their own link per object.
func TestDigestIsOneMailPerPersonWithEveryObject(t *testing.T) {
	var notices []Event
	for i := 1; i <= 30; i++ {
		conn := fmt.Sprintf("c%d", i%3+1)
		notices = append(notices, fleetNotice(AccessCut, conn, i))
	}
	// One object moved on since: its reminder came too, and another was dropped.
	notices = append(notices, fleetNotice(Reminder, "c2", 1))
	notices[len(notices)-1].Until = at.Add(36 * time.Hour)
	dropped := fleetNotice(Dropped, "c3", 2)
	notices = append(notices, dropped)
	d := digestOf(notices...)

	minted := map[string]int{}
	mint := func(e Event, who string) (personalLink, error) {
		minted[who+" "+e.WorkflowID]++
		return personalLink{person: who, line: "LINK " + who + " " + e.WorkflowID + "/" + e.RunID}, nil
	}
	dm, err := renderDigest(d, ui, mint)
	require.NoError(t, err)
	assert.Equal(t, []string{"dba", "alice", "bob"}, dm.For, "one mail per person, in the order the notices name them")
	require.Len(t, dm.Personal, 3)

	alice := dm.Personal[1]
	assert.Equal(t, d.Key+"/to/alice", alice.Key)
	assert.Equal(t, []string{"alice"}, alice.To)
	assert.Equal(t, map[string]string{"alice": "alice.liddell@corp.example"}, alice.Addresses)
	assert.True(t, alice.Personal, "copied to nobody, never on a shared channel")
	assert.Equal(t, DigestEvent, alice.Event)
	assert.Equal(t, "[retire] fleet shop-decom: news on 30 of your databases, 29 ask something of you (first by 2026-11-23)", alice.Subject)
	text := alice.Text
	for _, want := range []string{
		"Fleet shop-decom retires a system's databases in waves (decommission, requested by dba, ticket CHG-1234).",
		"This digest of 2026-11-23 09:00 UTC lists what happened to 30 databases of yours since the last one.",
		"29 ask something of you, the first by 2026-11-23 21:00 UTC.",
		"Asks something of you\n=====================",
		"For your information\n====================",
		// The reminder, whose deadline is nearest, comes first, with its history.
		"1. c2/db01 — observe\n   2026-11-22 09:00 UTC: access cut; observed until 2026-12-06 09:00 UTC (in 13 days), then archived, verified and dropped\n" +
			"   2026-11-22 09:00 UTC: the observation ends 2026-11-23 21:00 UTC (in 12h0m); then it is archived, verified and dropped",
		"Asked of you, before 2026-11-23 21:00 UTC: if anything still needs it, object; to observe longer, extend:",
		`    retire object c2 db01 --as alice --reason "<why it is still needed>"`,
		`    retire extend c2 db01 --as alice --by 7d --reason "<why>"`,
		`    retire approve c2 db01 --as alice --comment "<comment>"`,
		"   LINK alice retire:c2:db01/run-01",
		"   Run: http://127.0.0.1:8233/namespaces/default/workflows/retire:c2:db01/run-01/history",
		"30. c3/db02 — record\n   2026-11-22 09:00 UTC: access cut;",
		"2026-11-22 09:00 UTC: dropped; archive (verified before the drop) s3://archive/c3/db02/run/; 13.1 MiB freed",
		"Digests come at most every 1h, sooner when a deadline is near",
		"Fleet: http://127.0.0.1:8233/namespaces/default/workflows/retire-fleet:shop-decom/fleet-run/history",
	} {
		assert.True(t, strings.Contains(text, want), "alice's digest does not say %q", want)
	}
	for i := 1; i <= 30; i++ {
		assert.Equal(t, 1, strings.Count(text, fmt.Sprintf("/db%02d — ", i)), "db%02d once", i)
	}
	assert.NotContains(t, text, "--as bob", "alice reads her own commands")
	assert.NotContains(t, text, "LINK alice retire:c3:db02", "no link to a dropped object: nothing left to decide")
	assert.Equal(t, 29, strings.Count(text, "LINK alice "), "one link per object she can still decide on")
	assert.Equal(t, 1, minted["alice retire:c2:db01"], "one link per object, not per notice")

	// The requester of a decommission is told of the cut; nothing is asked of them.
	dba := dm.Personal[0]
	assert.Equal(t, "[retire] fleet shop-decom: news on 30 of your databases", dba.Subject)
	assert.Contains(t, dba.Text, "None of them asks anything of you.")
	assert.NotContains(t, dba.Text, "LINK", "the requester is no owner")
	assert.NotContains(t, dba.Text, "c2/db01 — observe\n   2026-11-22 09:00 UTC: access cut; observed until 2026-12-06 09:00 UTC (in 13 days), then archived, verified and dropped\n   2026-11-22 09:00 UTC: the observation ends",
		"the reminder goes to the owners only")

	// Whom each notice reached, and who got a link with it.
	require.Len(t, dm.Told, len(notices))
	assert.Equal(t, Told{To: []string{"dba", "alice", "bob"}, Personal: []string{"alice", "bob"}}, dm.Told[0])
	assert.Equal(t, Told{To: []string{"dba", "alice", "bob"}}, dm.Told[len(notices)-1], "a dropped object's notice carries no link")

	// The shared channels get one digest of everything, without a link or anybody's commands.
	c := dm.Common
	assert.Equal(t, d.Key, c.Key)
	assert.Equal(t, []string{"dba", "alice", "bob"}, c.To)
	assert.False(t, c.Personal)
	assert.Equal(t, "[retire] fleet shop-decom: news on 30 databases", c.Subject)
	assert.NotContains(t, c.Text, "LINK")
	assert.NotContains(t, c.Text, "--as")
	assert.Contains(t, c.Text, "1. c2/db01 — observe (owners: alice, bob)")
	assert.Contains(t, c.Text, "each owner and the requester got their own, with what it asks of them and their personal links.")
}

// What each kind asks of whom, in a digest.
func TestDigestAsksWhatEachNoticeAsks(t *testing.T) {
	for _, tc := range []struct {
		kind      Kind
		who       string
		asks      []string
		happened  string
		asksNoone bool
	}{
		{ClientsSeen, "dba", []string{`retire acknowledge-clients c1 db01 --as dba --note "<why they may lose access>"`, "retire cancel c1 db01"}, "clients were seen while sampling", false},
		{ClientsSeen, "alice", []string{`retire object c1 db01 --as alice --reason`, "(or tell dba)"}, "bi@10.0.0.7 (metabase)", false},
		{AccessAttempts, "dba", []string{`retire acknowledge-attempts c1 db01 --as dba --note "<why they may be ignored>"`}, "crm@10.0.0.9: 12 denied logins", false},
		{AccessAttempts, "bob", []string{`retire object c1 db01 --as bob --reason`}, "accounts still try to reach it after the cut", false},
		{SignoffNeeded, "bob", []string{`retire approve c1 db01 --as bob --comment "<comment>"`, `retire object c1 db01 --as bob`}, "the drop waits for the sign-off of an owner other than the requester (dba)", false},
		{AccessCut, "dba", nil, "access cut; observed until", true},
		{Aborted, "alice", nil, "ended without a drop (objection by bob: finance still reads it at quarter end); access restored exactly as it was", true},
	} {
		t.Run(string(tc.kind)+"/"+tc.who, func(t *testing.T) {
			dm, err := RenderDigest(digestOf(fleetNotice(tc.kind, "c1", 1)), "")
			require.NoError(t, err)
			var m *Message
			for i, who := range dm.For {
				if who == tc.who {
					m = &dm.Personal[i]
				}
			}
			require.NotNil(t, m, "no digest for %s: %v", tc.who, dm.For)
			assert.Contains(t, m.Text, tc.happened)
			for _, a := range tc.asks {
				assert.Contains(t, m.Text, a)
			}
			assert.Equal(t, tc.asksNoone, strings.Contains(m.Text, "None of them asks anything of you."), m.Text)
			assert.NotContains(t, m.Text, "Run:", "no UI, no links to it")
		})
	}
	_, err := RenderDigest(Digest{Key: "k", Notices: []Event{{Kind: AccessCut}}}, "")
	require.ErrorContains(t, err, "names no retirement")
	require.True(t, IsPermanent(err))
	_, err = RenderDigest(Digest{Notices: []Event{fleetNotice(AccessCut, "c1", 1)}}, "")
	require.ErrorContains(t, err, "without a key")
}

// digestLinkLine is linkLine as a digest indents it under its object.
var digestLinkLine = regexp.MustCompile(`(?m)^ *Decide on the owners' page \(personal link for (.+), valid until (\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC), one decision\): (\S+)/l/(\S+)$`)

// Through the real channels: each person one mail, with a real link per object that verifies
// as NotifyOwners' links do; the webhook and the CC list get the common digest.
func TestNotifyDigestMailsEachPersonOnce(t *testing.T) {
	ms := testservices.SMTP(t, false)
	hook := startHookServer(t)
	a := withLinks(notifierFor(t, ms, hook))
	var notices []Event
	for i := 1; i <= 3; i++ {
		notices = append(notices, fleetNotice(AccessCut, "c1", i))
	}
	d := digestOf(notices...)
	res, err := a.NotifyDigest(context.Background(), d)
	require.NoError(t, err)
	assert.True(t, res.Sent)
	assert.Equal(t, []string{"dba", "alice", "bob"}, res.People)
	require.Len(t, res.Told, 3)
	assert.Equal(t, []string{"alice", "bob"}, res.Told[0].Personal)

	byTo := mailsTo(t, ms.Mails())
	require.Len(t, byTo, 4, "one per person and the team list's copy")
	assert.Equal(t, []string{"dba-team@example.com"}, byTo[""].Rcpt, "everyone got their own: the common copy goes to the CC list alone")
	for who, addr := range map[string]string{"dba": "dee.bee@corp.example", "alice": "alice.liddell@corp.example", "bob": "bob@example.com"} {
		m, ok := byTo[addr]
		require.True(t, ok, "no mail for %s", who)
		h, body := parsedMail(t, m)
		assert.Equal(t, d.Key+"/to/"+who, h.Get(IdempotencyHeader))
		assert.Equal(t, DigestEvent, h.Get("X-Retire-Event"))
		links := digestLinkLine.FindAllStringSubmatch(body, -1)
		if who == "dba" {
			assert.Empty(t, links, "the requester is no owner")
			continue
		}
		require.Len(t, links, 3, "%s: one link per object", who)
		for i, l := range links {
			got, err := proof.VerifyLink(linkSecret, l[4], at.Add(time.Minute))
			require.NoError(t, err)
			assert.Equal(t, who, got.Person)
			assert.Equal(t, notices[i].WorkflowID, got.Workflow, "the link is for its object's retirement")
			assert.Equal(t, notices[i].RunID, got.Run)
			assert.Equal(t, at.Add(config.DefaultLinkTTL).Unix(), got.Expires, "minted as NotifyOwners mints them")
		}
	}
	reqs := hook.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, d.Key, reqs[0].Key)
	assert.NotContains(t, reqs[0].Text, "/l/")
	assert.Contains(t, reqs[0].Text, "For: dba, alice, bob")

	// A retry sends nothing twice.
	_, err = a.NotifyDigest(context.Background(), d)
	require.NoError(t, err)
	assert.Len(t, ms.Mails(), 4)
	assert.Len(t, hook.Requests(), 1)
}

func TestNotifyDigestActivityWithoutChannels(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := NewActivities(nil, ui)
	env.RegisterActivity(a)
	d := digestOf(fleetNotice(Reminder, "c1", 1))
	d.WorkflowID, d.RunID = "", ""
	v, err := env.ExecuteActivity(a.NotifyDigest, d)
	require.NoError(t, err)
	var res DigestResult
	require.NoError(t, v.Get(&res))
	assert.False(t, res.Sent, "no channel configured")
	assert.Empty(t, res.People)
	assert.Equal(t, []Told{{To: []string{"alice", "bob"}}}, res.Told)
}

func TestDurationText(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 90 * time.Minute: "1h30m", 30 * time.Minute: "30m", 45 * time.Second: "45s", 24 * time.Hour: "24h"} {
		assert.Equal(t, want, durationText(d))
	}
}
