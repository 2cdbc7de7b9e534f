package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/testservices"
)

const ui = "http://127.0.0.1:8233"

var at = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// event is a decommission of orders-prod/orders_2019 asked by dba, owned by alice and bob.
func event(kind Kind) Event {
	e := Event{
		Kind: kind, Namespace: "default", WorkflowID: "retire:orders-prod:orders_2019", RunID: "0197a3c2-run",
		Connection: "orders-prod", Object: "orders_2019", Reason: "decommission", Ticket: "CHG-1234",
		Requester: "dba", Owners: []string{"alice", "bob", "dba"}, At: at,
	}
	switch kind {
	case ClientsSeen:
		e.Clients = ClientLines([]engine.Session{{User: "bi", Host: "10.0.0.7", Program: "metabase", Count: 3, FirstSeen: at.Add(-48 * time.Hour), LastSeen: at.Add(-time.Hour)}})
	case AccessAttempts:
		e.Clients = []string{"crm@10.0.0.9: 12 denied logins, 0 refused statements, 2026-11-22 09:00 UTC .. 2026-11-22 10:00 UTC (counters)"}
	case AccessCut:
		e.Until = at.Add(14 * 24 * time.Hour)
	case Reminder:
		e.Until = at.Add(36 * time.Hour)
	case SignoffNeeded:
		e.Seq = 3
	case Dropped:
		e.ArchivePath = "archive/orders-prod/orders_2019/0197a3c2-run/"
		e.BytesFreed = 13_700_000
		e.Signed = []string{"alice"}
	case Aborted:
		e.Outcome = "objection by bob: finance still reads it at quarter end"
		e.AccessRestored = true
	}
	return e
}

// What each event must tell its readers, word for word where it is a command to copy.
var mustSay = map[Kind][]string{
	ClientsSeen: {
		"bi@10.0.0.7 (metabase), 3 connection(s)",
		`retire acknowledge-clients orders-prod orders_2019 --as dba --note "<why they may lose access>"`,
		"retire cancel orders-prod orders_2019",
	},
	AccessAttempts: {
		"crm@10.0.0.9: 12 denied logins",
		`retire object orders-prod orders_2019 --as alice --reason "<why it is still needed>"`,
		`retire acknowledge-attempts orders-prod orders_2019 --as dba --note "<why they may be ignored>"`,
	},
	AccessCut: {
		"observed until 2026-12-06 09:00 UTC (in 14 days)",
		`retire object orders-prod orders_2019 --as alice --reason "<why it is still needed>"`,
		`retire object orders-prod orders_2019 --as bob --reason "<why it is still needed>"`,
		`retire extend orders-prod orders_2019 --as bob --by 7d --reason "<why>"`,
		`retire approve orders-prod orders_2019 --as alice --comment "<comment>"`,
	},
	Reminder: {
		"ends 2026-11-23 21:00 UTC (in 2 days)",
		`retire object orders-prod orders_2019 --as alice --reason "<why it is still needed>"`,
		`retire approve orders-prod orders_2019 --as bob --comment "<comment>"`,
	},
	SignoffNeeded: {
		`retire approve orders-prod orders_2019 --as alice --comment "<comment>"`,
		`retire approve orders-prod orders_2019 --as bob --comment "<comment>"`,
		`retire object orders-prod orders_2019 --as bob --reason "<why it is still needed>"`,
	},
	Dropped: {
		"Archive (verified before the drop): archive/orders-prod/orders_2019/0197a3c2-run/",
		"Space freed: 13.1 MiB (13700000 bytes)",
		"Signed off by: alice.",
		"retire restore archive/orders-prod/orders_2019/0197a3c2-run/ --connection orders-prod --into orders_2019_restored",
	},
	Aborted: {
		"Why: objection by bob: finance still reads it at quarter end",
		"Access has been restored exactly as it was before the cut.",
		"retire status orders-prod orders_2019",
	},
}

var subjects = map[Kind]string{
	ClientsSeen:    "[retire] orders-prod/orders_2019: 1 client(s) still connect: acknowledge or cancel",
	AccessAttempts: "[retire] orders-prod/orders_2019: 1 account(s) still try to reach it after the cut",
	AccessCut:      "[retire] orders-prod/orders_2019: access cut until 2026-12-06: object if the data is still needed",
	Reminder:       "[retire] orders-prod/orders_2019: observation ends 2026-11-23 (in 2 days)",
	SignoffNeeded:  "[retire] orders-prod/orders_2019: sign-off needed before the drop",
	Dropped:        "[retire] orders-prod/orders_2019: dropped, archived at archive/orders-prod/orders_2019/0197a3c2-run/",
	Aborted:        "[retire] orders-prod/orders_2019: retirement aborted (objection by bob: finance still reads it at quarter end)",
}

// Owners (mail domain example.com) each event goes to; the team list is CC'd on all.
var recipients = map[Kind][]string{
	ClientsSeen:    {"dba", "alice", "bob"},
	AccessCut:      {"dba", "alice", "bob"},
	AccessAttempts: {"dba", "alice", "bob"},
	Reminder:       {"alice", "bob", "dba"},
	SignoffNeeded:  {"alice", "bob"}, // the requester cannot sign off
	Dropped:        {"dba", "alice", "bob"},
	Aborted:        {"dba", "alice", "bob"},
}

func TestRenderSaysWhatToDo(t *testing.T) {
	for _, k := range Kinds {
		m, err := Render(event(k), ui)
		require.NoError(t, err, k)
		assert.Equal(t, subjects[k], m.Subject, k)
		for _, want := range mustSay[k] {
			assert.Contains(t, m.Text, want, k)
		}
		assert.Equal(t, recipients[k], m.To, k)
		assert.Equal(t, string(k), m.Event)
		assert.Equal(t, "http://127.0.0.1:8233/namespaces/default/workflows/retire:orders-prod:orders_2019/0197a3c2-run/history", m.Link)
		assert.Contains(t, m.Text, "Run: "+m.Link)
	}
	m, _ := Render(event(AccessCut), ui)
	assert.Equal(t, "retire:orders-prod:orders_2019/0197a3c2-run/access-cut", m.Key)
	m, _ = Render(event(SignoffNeeded), ui)
	assert.Equal(t, "retire:orders-prod:orders_2019/0197a3c2-run/signoff-needed/3", m.Key, "repeated events differ by Seq")

	// A migration needs no sign-off: no approve lines.
	e := event(AccessCut)
	e.Reason = "migration"
	m, err := Render(e, "")
	require.NoError(t, err)
	assert.NotContains(t, m.Text, "retire approve")
	assert.Empty(t, m.Link, "no UI configured, no link")

	// An owner name that a shell would split is quoted in the command lines.
	e = event(SignoffNeeded)
	e.Owners = []string{"o'brien"}
	m, err = Render(e, ui)
	require.NoError(t, err)
	assert.Contains(t, m.Text, `retire approve orders-prod orders_2019 --as 'o'\''brien' --comment "<comment>"`)

	_, err = Render(Event{Kind: "exploded", WorkflowID: "w", RunID: "r", Connection: "c", Object: "o"}, ui)
	require.ErrorContains(t, err, `unknown event kind "exploded"`)
	require.True(t, IsPermanent(err))
	_, err = Render(Event{Kind: AccessCut, Connection: "c", Object: "o"}, ui)
	require.ErrorContains(t, err, "no idempotency key")
}

// notifierFor builds both channels from a config, the way the worker does.
func notifierFor(t *testing.T, ms *testservices.SMTPServer, hook *hookServer) Notifier {
	t.Helper()
	t.Setenv("RT_NOTIFY_WEBHOOK", hook.URL)
	t.Setenv("RT_NOTIFY_SMTP_PW", ms.Pass)
	host, port, err := net.SplitHostPort(ms.Addr)
	require.NoError(t, err)
	var p int
	_, err = fmt.Sscan(port, &p)
	require.NoError(t, err)
	n, err := FromConfig(config.Notify{
		UIURL:   ui,
		Webhook: &config.NotifyWebhook{URLEnv: "RT_NOTIFY_WEBHOOK", Timeout: 2 * time.Second},
		SMTP: &config.NotifySMTP{
			Host: host, Port: p, From: "Retire <retire@example.com>", User: ms.User,
			Secret: config.Secret{PasswordEnv: "RT_NOTIFY_SMTP_PW"}, Domain: "example.com",
			CC: []string{"dba-team@example.com"}, CAFile: ms.CAFile, Timeout: 5 * time.Second,
		},
	})
	require.NoError(t, err)
	require.NotNil(t, n)
	return n
}

func TestEveryEventArrivesByMailAndWebhook(t *testing.T) {
	ms := testservices.SMTP(t, false)
	hook := startHookServer(t)
	n := notifierFor(t, ms, hook)
	ctx := context.Background()
	for i, k := range Kinds {
		m, err := Render(event(k), ui)
		require.NoError(t, err)
		require.NoError(t, n.Notify(ctx, m), k)

		mails := ms.Mails()
		require.Len(t, mails, i+1, k)
		got := mails[i]
		assert.True(t, got.TLS, "%s: STARTTLS before the mail", k)
		assert.Equal(t, "retire", got.AuthAs, "%s: AUTH PLAIN", k)
		assert.Equal(t, "retire@example.com", got.From)
		var want []string
		for _, o := range recipients[k] {
			want = append(want, o+"@example.com")
		}
		assert.Equal(t, append(want, "dba-team@example.com"), got.Rcpt, k)
		h, body := parsedMail(t, got)
		assert.Equal(t, subjects[k], mailSubject(t, got))
		assert.Equal(t, m.Key, h.Get(IdempotencyHeader))
		assert.Equal(t, string(k), h.Get("X-Retire-Event"))
		assert.Equal(t, MessageID(m.Key, "retire@example.com"), h.Get("Message-ID"))
		assert.Equal(t, "dba-team@example.com", strings.Trim(h.Get("Cc"), "<>"))
		assert.Equal(t, "auto-generated", h.Get("Auto-Submitted"))
		to, err := h.AddressList("To")
		require.NoError(t, err)
		assert.Len(t, to, len(recipients[k]))
		for _, s := range mustSay[k] {
			assert.Contains(t, body, s, "%s mail body", k)
		}

		reqs := hook.Requests()
		require.Len(t, reqs, i+1, k)
		assert.Equal(t, m.Key, reqs[i].Key)
		assert.Equal(t, string(k), reqs[i].Event)
		assert.Equal(t, "application/json", reqs[i].ContentType)
		assert.True(t, strings.HasPrefix(reqs[i].Text, "*"+subjects[k]+"*\n"), reqs[i].Text)
		for _, s := range mustSay[k] {
			assert.Contains(t, reqs[i].Text, s, "%s webhook text", k)
		}
	}
	// Message-IDs differ per key and are stable per key.
	assert.Equal(t, "<retire.", MessageID("a/b/c", "x@example.com")[:8])
	assert.True(t, strings.HasSuffix(MessageID("a/b/c", "x@example.com"), "@example.com>"))
	assert.NotEqual(t, MessageID("a/b/c", "x@example.com"), MessageID("a/b/d", "x@example.com"))
}

// Once the drop has begun, owners must not read that nothing was dropped.
func TestAbortedAfterTheDropBeganSaysDataMayBeGone(t *testing.T) {
	e := event(Aborted)
	e.Outcome, e.DropStarted, e.AccessRestored = "failed: drop: lost connection", true, false
	e.ArchivePath = "orders-prod/orders_2019/0197a3c2-run/"
	m, err := Render(e, ui)
	require.NoError(t, err)
	assert.Equal(t, "[retire] orders-prod/orders_2019: retirement failed during the drop (failed: drop: lost connection)", m.Subject)
	assert.Contains(t, m.Text, "some or all of its data may be gone")
	assert.Contains(t, m.Text, "retire restore orders-prod/orders_2019/0197a3c2-run/ --connection orders-prod --into orders_2019_restored")
	for _, lie := range []string{"without dropping anything", "Access was not cut"} {
		assert.NotContains(t, m.Text, lie)
	}
}

func TestImplicitTLS(t *testing.T) {
	ms := testservices.SMTP(t, true)
	s := &SMTP{Addr: ms.Addr, From: "retire@example.com", User: ms.User, Password: ms.Pass, Domain: "example.com", ImplicitTLS: true, TLSConfig: caConfig(t, ms.CAFile)}
	m, err := Render(event(Aborted), ui)
	require.NoError(t, err)
	require.NoError(t, s.Notify(context.Background(), m))
	mails := ms.Mails()
	require.Len(t, mails, 1)
	assert.True(t, mails[0].TLS)
}

func caConfig(t *testing.T, caFile string) *tls.Config {
	t.Helper()
	n, err := FromConfig(config.Notify{SMTP: &config.NotifySMTP{Host: "127.0.0.1", From: "r@example.com", CAFile: caFile}})
	require.NoError(t, err)
	return n.(*Deduper).next.(*SMTP).TLSConfig
}

func TestRetryThroughDeduperDoesNotSendTwice(t *testing.T) {
	ms := testservices.SMTP(t, false)
	hook := startHookServer(t)
	n := notifierFor(t, ms, hook)
	ctx := context.Background()
	m, err := Render(event(AccessCut), ui)
	require.NoError(t, err)

	// First attempt: the mail goes out, the webhook answers 500: the activity fails...
	hook.set(func(h *hookServer) { h.fail = 1 })
	err = n.Notify(ctx, m)
	require.ErrorContains(t, err, "HTTP 500")
	require.False(t, IsPermanent(err), "a 500 is worth a retry")
	require.Len(t, ms.Mails(), 1)
	require.Empty(t, hook.Requests())

	// ...and Temporal retries it: only the webhook is sent again.
	require.NoError(t, n.Notify(ctx, m))
	require.Len(t, ms.Mails(), 1, "the mail is not sent twice")
	require.Len(t, hook.Requests(), 1)

	// A third attempt (e.g. the result was lost on the way to the server) sends nothing.
	require.NoError(t, n.Notify(ctx, m))
	require.Len(t, ms.Mails(), 1)
	require.Len(t, hook.Requests(), 1)

	// Attempts racing on one key send once.
	m2, err := Render(event(Dropped), ui)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, n.Notify(ctx, m2))
		}()
	}
	wg.Wait()
	require.Len(t, ms.Mails(), 2)
	require.Len(t, hook.Requests(), 2)

	// Another event of the same run is another key.
	m3, err := Render(event(Aborted), ui)
	require.NoError(t, err)
	require.NoError(t, n.Notify(ctx, m3))
	require.Len(t, ms.Mails(), 3)
}

func TestDeduperForgetsOldestBeyondItsSize(t *testing.T) {
	var sent []string
	d := Dedupe(notifierFunc(func(_ context.Context, m Message) error { sent = append(sent, m.Key); return nil }), 2)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "a", "c", "a", "b", ""} {
		require.NoError(t, d.Notify(ctx, Message{Key: k}))
	}
	// a, b sent; a remembered; c evicts b (a was used more recently); b sent again; "" always.
	require.Equal(t, []string{"a", "b", "c", "b", ""}, sent)
	require.True(t, d.Delivered("a"))
	require.False(t, d.Delivered("c"))
}

type notifierFunc func(context.Context, Message) error

func (f notifierFunc) Notify(ctx context.Context, m Message) error { return f(ctx, m) }

func TestWebhookFailuresAreErrorsWithoutTheToken(t *testing.T) {
	hook := startHookServer(t)
	ctx := context.Background()
	m, err := Render(event(AccessCut), ui)
	require.NoError(t, err)
	w := &Webhook{URL: hook.URL, Timeout: 500 * time.Millisecond}

	hook.set(func(h *hookServer) { h.status = 500 })
	err = w.Notify(ctx, m)
	require.ErrorContains(t, err, "HTTP 500")
	require.ErrorContains(t, err, "upstream failed for") // the body is shown...
	require.NotContains(t, err.Error(), hook.Token)      // ...but not the token it echoed
	require.False(t, IsPermanent(err))

	hook.set(func(h *hookServer) { h.status = 403 })
	err = w.Notify(ctx, m)
	require.ErrorContains(t, err, "HTTP 403")
	require.True(t, IsPermanent(err), "a 4xx will not change on retry")
	require.NotContains(t, err.Error(), hook.Token)

	hook.set(func(h *hookServer) { h.status = 429 })
	require.False(t, IsPermanent(w.Notify(ctx, m)), "429 is worth a retry")

	hook.set(func(h *hookServer) { h.status, h.delay = 0, 5*time.Second })
	start := time.Now()
	err = w.Notify(ctx, m)
	require.Error(t, err)
	require.Less(t, time.Since(start), 3*time.Second, "the timeout bounds a hung receiver")
	require.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	require.NotContains(t, err.Error(), hook.Token)

	hook.Close()
	err = w.Notify(ctx, m)
	require.Error(t, err)
	require.NotContains(t, err.Error(), hook.Token)
	require.NotContains(t, err.Error(), "/services/")
	require.Empty(t, hook.Requests())
}

func TestSMTPFailuresAreErrorsWithoutThePassword(t *testing.T) {
	ms := testservices.SMTP(t, false)
	ctx := context.Background()
	m, err := Render(event(AccessCut), ui)
	require.NoError(t, err)
	tlsConf := caConfig(t, ms.CAFile)
	good := SMTP{Addr: ms.Addr, From: "retire@example.com", User: ms.User, Password: ms.Pass, Domain: "example.com", TLSConfig: tlsConf, Timeout: 5 * time.Second}

	bad := good
	bad.Password = "Wr0ng-pa55word"
	err = bad.Notify(ctx, m)
	require.ErrorContains(t, err, "AUTH")
	require.True(t, IsPermanent(err), "535 is permanent: %v", err)
	require.NotContains(t, err.Error(), bad.Password)

	// The relay is down: a plain error (retried), no password in it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := l.Addr().String()
	require.NoError(t, l.Close())
	dead := good
	dead.Addr = down
	err = dead.Notify(ctx, m)
	require.ErrorContains(t, err, "connect "+down)
	require.False(t, IsPermanent(err))
	require.NotContains(t, err.Error(), ms.Pass)

	// A certificate nobody vouches for is refused: no password goes to an impostor.
	untrusted := good
	untrusted.TLSConfig = nil
	err = untrusted.Notify(ctx, m)
	require.ErrorContains(t, err, "STARTTLS")
	require.ErrorContains(t, err, "certificate")

	// Owners without an address and no domain: permanent, nothing sent.
	nodomain := good
	nodomain.Domain = ""
	err = nodomain.Notify(ctx, m)
	require.ErrorContains(t, err, `"alice" has no mail domain`)
	require.True(t, IsPermanent(err))

	// A recipient the relay rejects (550) is permanent.
	rejected := m
	rejected.To = []string{"nobody@example.com"}
	err = good.Notify(ctx, rejected)
	require.ErrorContains(t, err, "550")
	require.True(t, IsPermanent(err))

	require.Empty(t, ms.Mails())
	require.NoError(t, good.Notify(ctx, m))
	require.Len(t, ms.Mails(), 1)
}

func TestFromConfig(t *testing.T) {
	n, err := FromConfig(config.Notify{UIURL: ui})
	require.NoError(t, err)
	require.Nil(t, n, "nothing configured: no notifier")

	_, err = FromConfig(config.Notify{Webhook: &config.NotifyWebhook{URLEnv: "RT_NOTIFY_UNSET_HOOK"}})
	require.ErrorContains(t, err, "RT_NOTIFY_UNSET_HOOK is not set")

	t.Setenv("RT_NOTIFY_HOOK", "https://hooks.example.com/services/T/B/zzz")
	n, err = FromConfig(config.Notify{Webhook: &config.NotifyWebhook{URLEnv: "RT_NOTIFY_HOOK"}})
	require.NoError(t, err)
	require.IsType(t, &Deduper{}, n, "a single channel is deduplicated")

	_, err = FromConfig(config.Notify{SMTP: &config.NotifySMTP{Host: "h", From: "a@b.c", CAFile: "/nonexistent.pem"}})
	require.ErrorContains(t, err, "ca_file")
}

func TestNotifyOwnersActivity(t *testing.T) {
	hook := startHookServer(t)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := NewActivities(Dedupe(&Webhook{URL: hook.URL}, 0), ui)
	env.RegisterActivity(a)

	e := event(AccessCut)
	e.Namespace, e.WorkflowID, e.RunID = "", "", "" // taken from the activity's info
	v, err := env.ExecuteActivity(a.NotifyOwners, e)
	require.NoError(t, err)
	var res Result
	require.NoError(t, v.Get(&res))
	require.True(t, res.Sent)
	require.True(t, strings.HasSuffix(res.Key, "/access-cut"), res.Key)
	require.False(t, strings.HasPrefix(res.Key, "/"), "the workflow id comes from the activity info: %s", res.Key)
	require.Equal(t, []string{"dba", "alice", "bob"}, res.To)
	reqs := hook.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, res.Key, reqs[0].Key)

	// Permanent failures do not retry.
	hook.set(func(h *hookServer) { h.status = 404 })
	e.Kind = Aborted
	_, err = env.ExecuteActivity(a.NotifyOwners, e)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	require.True(t, appErr.NonRetryable())
	require.Equal(t, ErrorType, appErr.Type())
	require.NotContains(t, err.Error(), hook.Token)

	// Nothing configured: the activity succeeds and says nothing was sent.
	none := NewActivities(nil, ui)
	env = s.NewTestActivityEnvironment()
	env.RegisterActivity(none)
	v, err = env.ExecuteActivity(none.NotifyOwners, event(Reminder))
	require.NoError(t, err)
	require.NoError(t, v.Get(&res))
	require.False(t, res.Sent)
	require.True(t, slices.Equal([]string{"alice", "bob", "dba"}, res.To))
}
