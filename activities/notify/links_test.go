package notify

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/proof"
	"github.com/dataretire/retire/testservices"
)

const portal = "https://retire.example.com/"

var linkSecret = []byte("0123456789abcdef0123456789abcdef-link")

// clock is the links' clock: fixed, so expiries are known to the second.
func clock() time.Time { return at }

// linked is event(kind) as a directory-backed run has it: the owners are directory ids, the
// requester is no owner, and the people are pinned with their names and e-mails (bob has no
// e-mail in the directory: he gets the domain rule).
func linked(kind Kind) Event {
	e := event(kind)
	e.Owners = []string{"alice", "bob"}
	e.People = []proof.Person{
		{ID: "dba", Name: "Dee Bee", Email: "dee.bee@corp.example"},
		{ID: "alice", Name: "Liddell, Alice", Email: "alice.liddell@corp.example"},
		{ID: "bob", Name: "Bob"},
	}
	return e
}

var mailOf = map[string]string{"dba": "dee.bee@corp.example", "alice": "alice.liddell@corp.example", "bob": "bob@example.com"}

// linkLine parses the line of a personal notice; a name may hold commas, the time cannot.
var linkLine = regexp.MustCompile(`(?m)^Decide on the owners' page \(personal link for (.+), valid until (\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC), one decision\): (\S+)/l/(\S+)$`)

func withLinks(n Notifier) *Activities {
	return NewActivities(n, ui, WithLinks(portal, linkSecret, config.DefaultLinkTTL, clock))
}

// mailsTo indexes the mails by their one To address (the common one by "").
func mailsTo(t *testing.T, mails []testservices.Mail) map[string]testservices.Mail {
	t.Helper()
	out := map[string]testservices.Mail{}
	for _, m := range mails {
		h, _ := parsedMail(t, m)
		key := ""
		if h.Get("Cc") == "" {
			to, err := h.AddressList("To")
			require.NoError(t, err)
			require.Len(t, to, 1, "a personal mail has one addressee")
			key = to[0].Address
		}
		_, dup := out[key]
		require.False(t, dup, "two mails to %q", key)
		out[key] = m
	}
	return out
}

func TestOwnersEachGetTheirOwnLink(t *testing.T) {
	ms := testservices.SMTP(t, false)
	hook := startHookServer(t)
	a := withLinks(notifierFor(t, ms, hook))
	ctx := context.Background()
	seenNonces := map[string]bool{}
	mailed, hooked := 0, 0
	for _, k := range Kinds {
		e := linked(k)
		common, err := Render(e, ui)
		require.NoError(t, err)
		res, err := a.NotifyOwners(ctx, e)
		require.NoError(t, err, k)
		require.True(t, res.Sent)
		assert.Equal(t, common.Key, res.Key)

		mails := ms.Mails()[mailed:]
		mailed += len(mails)
		reqs := hook.Requests()[hooked:]
		hooked += len(reqs)

		// The webhook is a shared channel: the common message, addressed to everyone, and no
		// link anybody reading it could decide with.
		require.Len(t, reqs, 1, k)
		assert.Equal(t, common.Key, reqs[0].Key)
		assert.Contains(t, reqs[0].Text, "For: "+strings.Join(common.To, ", "))
		assert.NotContains(t, reqs[0].Text, "/l/")
		assert.NotContains(t, reqs[0].Text, strings.TrimSuffix(portal, "/"))
		assert.NotContains(t, reqs[0].Text, "Decide on the owners' page")

		if !k.OwnersDecide() {
			// Outcomes: nothing left to decide, one mail to all as without links.
			assert.Empty(t, res.Personal, k)
			require.Len(t, mails, 1, k)
			var want []string
			for _, who := range recipients[k] {
				want = append(want, mailOf[who])
			}
			assert.Equal(t, append(want, "dba-team@example.com"), mails[0].Rcpt, k)
			_, body := parsedMail(t, mails[0])
			assert.NotContains(t, body, "/l/")
			continue
		}

		// The owners among the recipients get their own; the requester (in the notices
		// that go to them) gets the common mail.
		owners, requesterToo := []string{"alice", "bob"}, k == ClientsSeen || k == AccessAttempts || k == AccessCut
		assert.Equal(t, owners, res.Personal, k)
		require.Len(t, mails, len(owners)+1, "%s: one mail per owner, and the common one to the rest and the CC list", k)
		byTo := mailsTo(t, mails)

		c := byTo[""]
		if requesterToo {
			assert.Equal(t, []string{"dee.bee@corp.example", "dba-team@example.com"}, c.Rcpt, k)
		} else {
			assert.Equal(t, []string{"dba-team@example.com"}, c.Rcpt, "%s: all recipients got their own: only the team list gets the common copy", k)
		}
		ch, cbody := parsedMail(t, c)
		assert.Equal(t, common.Key, ch.Get(IdempotencyHeader))
		assert.NotContains(t, cbody, "/l/", "%s: the common mail carries no link", k)

		for _, who := range owners {
			m, ok := byTo[mailOf[who]]
			require.True(t, ok, "%s: no mail for %s", k, who)
			assert.Equal(t, []string{mailOf[who]}, m.Rcpt, "%s: a personal mail is copied to nobody", k)
			h, body := parsedMail(t, m)
			assert.Empty(t, h.Get("Cc"))
			key := common.Key + "/to/" + who
			assert.Equal(t, key, h.Get(IdempotencyHeader), "each person has their own idempotency key")
			assert.Equal(t, MessageID(key, "retire@example.com"), h.Get("Message-ID"))
			assert.Equal(t, common.Subject, mailSubject(t, m))

			got := linkLine.FindAllStringSubmatch(body, -1)
			require.Len(t, got, 1, "%s: one link line in %s's mail:\n%s", k, who, body)
			name := map[string]string{"alice": "Liddell, Alice", "bob": "Bob"}[who]
			assert.Equal(t, name, got[0][1])
			assert.Equal(t, "2026-11-29 09:00 UTC", got[0][2], "valid for link_ttl from the injected clock")
			assert.Equal(t, "https://retire.example.com", got[0][3])
			assert.True(t, strings.HasPrefix(body, got[0][0]+"\n\n"), "the link comes first")
			assert.Equal(t, strings.TrimRight(common.Text, "\n"), strings.TrimRight(strings.TrimPrefix(body, got[0][0]+"\n\n"), "\n"), "the rest is the common text")

			l, err := proof.VerifyLink(linkSecret, got[0][4], at.Add(time.Minute))
			require.NoError(t, err, "%s: %s's link", k, who)
			assert.Equal(t, who, l.Person)
			assert.Equal(t, e.WorkflowID, l.Workflow)
			assert.Equal(t, e.RunID, l.Run)
			assert.Equal(t, at.Unix(), l.IssuedAt)
			assert.Equal(t, at.Add(config.DefaultLinkTTL).Unix(), l.Expires)
			require.NotEmpty(t, l.Nonce)
			assert.False(t, seenNonces[l.Nonce], "every link has its own nonce")
			seenNonces[l.Nonce] = true

			_, err = proof.VerifyLink([]byte("another-secret-another-secret-xx"), got[0][4], at)
			require.Error(t, err, "only the shared secret verifies it")
			_, err = proof.VerifyLink(linkSecret, got[0][4], at.Add(config.DefaultLinkTTL))
			require.ErrorContains(t, err, "expired")
		}
	}
}

// A directory id is a login subject: the directory's e-mail is where mail goes, with links or
// without.
func TestMailGoesToTheDirectorysAddress(t *testing.T) {
	e := linked(Dropped)
	m, err := Render(e, ui)
	require.NoError(t, err)
	assert.Equal(t, []string{"dba", "alice", "bob"}, m.To, "the message still names people by id")
	assert.Equal(t, map[string]string{"dba": "dee.bee@corp.example", "alice": "alice.liddell@corp.example"}, m.Addresses)

	// People are found by id or e-mail, case-insensitively, as the workflow compares them.
	e.Owners = []string{"ALICE"}
	m, err = Render(e, ui)
	require.NoError(t, err)
	assert.Equal(t, "alice.liddell@corp.example", m.Addresses["ALICE"])

	// Without people (runs before the directory), no addresses: the domain rule as before.
	m, err = Render(event(Dropped), ui)
	require.NoError(t, err)
	assert.Nil(t, m.Addresses)
}

func TestWithoutLinksNoticesAreUnchanged(t *testing.T) {
	for _, a := range []func(n Notifier) *Activities{
		func(n Notifier) *Activities { return NewActivities(n, ui) },
		// Half an option is no option: the worker refuses to start with one (LinksFromConfig).
		func(n Notifier) *Activities { return NewActivities(n, ui, WithLinks("", linkSecret, time.Hour, clock)) },
		func(n Notifier) *Activities { return NewActivities(n, ui, WithLinks(portal, nil, time.Hour, clock)) },
		func(n Notifier) *Activities { return NewActivities(n, ui, nil) },
	} {
		ms := testservices.SMTP(t, false)
		hook := startHookServer(t)
		act := a(notifierFor(t, ms, hook))
		for i, k := range Kinds {
			e := event(k)
			want, err := Render(e, ui)
			require.NoError(t, err)
			res, err := act.NotifyOwners(context.Background(), e)
			require.NoError(t, err)
			assert.Empty(t, res.Personal)
			assert.Equal(t, recipients[k], res.To)

			mails := ms.Mails()
			require.Len(t, mails, i+1, "%s: one mail to all", k)
			var rcpt []string
			for _, o := range recipients[k] {
				rcpt = append(rcpt, o+"@example.com")
			}
			assert.Equal(t, append(rcpt, "dba-team@example.com"), mails[i].Rcpt, k)
			h, body := parsedMail(t, mails[i])
			assert.Equal(t, want.Key, h.Get(IdempotencyHeader))
			assert.Equal(t, strings.TrimRight(want.Text, "\n"), strings.TrimRight(body, "\n"), k)

			reqs := hook.Requests()
			require.Len(t, reqs, i+1)
			assert.Equal(t, want.webhookText(), reqs[i].Text)
		}
	}
}

// A retry after one owner's mail failed sends only that mail again (with a new link, since
// the first was never delivered), and a retry after all went out sends nothing.
func TestRetryAfterOneOwnersMailFailedServesOnlyThem(t *testing.T) {
	ms := testservices.SMTP(t, false)
	hook := startHookServer(t)
	a := withLinks(notifierFor(t, ms, hook))
	ctx := context.Background()
	e := linked(AccessCut)
	key := e.Key()

	ms.SetBusy("bob@example.com", 1)
	_, err := a.NotifyOwners(ctx, e)
	require.ErrorContains(t, err, "451")
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	require.False(t, appErr.NonRetryable(), "a 451 is worth a retry")
	keys := func() []string {
		var out []string
		for _, m := range ms.Mails() {
			h, _ := parsedMail(t, m)
			out = append(out, h.Get(IdempotencyHeader))
		}
		return out
	}
	assert.ElementsMatch(t, []string{key, key + "/to/alice"}, keys())
	require.Len(t, hook.Requests(), 1)

	res, err := a.NotifyOwners(ctx, e)
	require.NoError(t, err)
	assert.True(t, res.Sent)
	assert.ElementsMatch(t, []string{key, key + "/to/alice", key + "/to/bob"}, keys(), "only bob's mail is sent again")
	require.Len(t, hook.Requests(), 1, "the webhook is not sent twice")

	_, err = a.NotifyOwners(ctx, e)
	require.NoError(t, err)
	assert.Len(t, ms.Mails(), 3, "everything was delivered: nothing is sent again")

	// Another event of the run is another set of keys.
	r := linked(Reminder)
	r.Until = at.Add(36 * time.Hour)
	_, err = a.NotifyOwners(ctx, r)
	require.NoError(t, err)
	assert.Len(t, ms.Mails(), 6)
}

// An owner with no address at all fails for good (no retry gives them one), and the others are
// still told.
func TestAnOwnerWithoutAddressDoesNotSilenceTheOthers(t *testing.T) {
	ms := testservices.SMTP(t, false)
	tlsConf := caConfig(t, ms.CAFile)
	smtpOnly := Dedupe(&SMTP{Addr: ms.Addr, From: "retire@example.com", User: ms.User, Password: ms.Pass, TLSConfig: tlsConf, Timeout: 5 * time.Second}, 0)
	a := withLinks(smtpOnly)
	e := linked(SignoffNeeded) // bob has no e-mail, and there is no domain
	_, err := a.NotifyOwners(context.Background(), e)
	require.ErrorContains(t, err, `"bob" has no mail domain`)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	assert.True(t, appErr.NonRetryable(), "the only failure is one no retry can fix")
	mails := ms.Mails()
	require.Len(t, mails, 1)
	assert.Equal(t, []string{"alice.liddell@corp.example"}, mails[0].Rcpt)
}

func TestNotifyOwnersActivityWithLinks(t *testing.T) {
	ms := testservices.SMTP(t, false)
	hook := startHookServer(t)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := withLinks(notifierFor(t, ms, hook))
	env.RegisterActivity(a)
	e := linked(Reminder)
	e.Namespace, e.WorkflowID, e.RunID = "", "", "" // taken from the activity's info
	v, err := env.ExecuteActivity(a.NotifyOwners, e)
	require.NoError(t, err)
	var res Result
	require.NoError(t, v.Get(&res))
	assert.Equal(t, []string{"alice", "bob"}, res.Personal)
	wf, run, _ := strings.Cut(strings.TrimSuffix(res.Key, "/reminder"), "/")
	require.NotEmpty(t, wf)
	for _, m := range ms.Mails() {
		_, body := parsedMail(t, m)
		if got := linkLine.FindStringSubmatch(body); got != nil {
			l, err := proof.VerifyLink(linkSecret, got[4], at)
			require.NoError(t, err)
			assert.Equal(t, wf, l.Workflow, "the link names the run the activity ran for")
			assert.Equal(t, run, l.Run)
		}
	}
}

func TestWebhookRefusesPersonalMessages(t *testing.T) {
	hook := startHookServer(t)
	m, err := Render(linked(AccessCut), ui)
	require.NoError(t, err)
	m.Personal = true
	err = (&Webhook{URL: hook.URL}).Notify(context.Background(), m)
	require.ErrorContains(t, err, "personal message")
	require.True(t, IsPermanent(err))
	require.Empty(t, hook.Requests())

	// Channels say whether they are private; Multi and Deduper are looked through, and a
	// channel that does not say is shared.
	sm := &SMTP{}
	shared, private := channels(Multi{Dedupe(&Webhook{}, 0), Multi{Dedupe(sm, 0)}, notifierFunc(nil)})
	assert.Len(t, shared, 2)
	assert.Len(t, private, 1)
}

func TestLinksFromConfig(t *testing.T) {
	opt, err := LinksFromConfig(config.Signoff{})
	require.NoError(t, err)
	require.Nil(t, opt, "nothing configured: no links")

	t.Setenv("RT_LINK_SECRET", string(linkSecret))
	t.Setenv("RT_LINK_SHORT", "too-short")
	_, err = LinksFromConfig(config.Signoff{PortalURL: portal})
	require.ErrorContains(t, err, "signoff.portal_url is set but signoff.link_secret is not")
	_, err = LinksFromConfig(config.Signoff{LinkSecret: config.Secret{PasswordEnv: "RT_LINK_SECRET"}})
	require.ErrorContains(t, err, "signoff.link_secret is set but signoff.portal_url is not")
	_, err = LinksFromConfig(config.Signoff{PortalURL: portal, LinkSecret: config.Secret{PasswordEnv: "RT_LINK_SHORT"}})
	require.ErrorContains(t, err, "signoff.link_secret is 9 bytes; it must be at least 32")
	_, err = LinksFromConfig(config.Signoff{PortalURL: portal, LinkSecret: config.Secret{PasswordEnv: "RT_LINK_UNSET"}})
	require.ErrorContains(t, err, "RT_LINK_UNSET is not set")

	opt, err = LinksFromConfig(config.Signoff{PortalURL: portal, LinkSecret: config.Secret{PasswordEnv: "RT_LINK_SECRET"}})
	require.NoError(t, err)
	a := NewActivities(nil, ui, opt)
	require.NotNil(t, a.links)
	assert.Equal(t, config.DefaultLinkTTL, a.links.ttl)
	assert.Equal(t, "https://retire.example.com", a.links.portal)
	assert.Equal(t, linkSecret, a.links.secret)

	opt, err = LinksFromConfig(config.Signoff{PortalURL: portal, LinkSecret: config.Secret{PasswordEnv: "RT_LINK_SECRET"}, LinkTTL: 48 * time.Hour})
	require.NoError(t, err)
	assert.Equal(t, 48*time.Hour, NewActivities(nil, ui, opt).links.ttl)
}
