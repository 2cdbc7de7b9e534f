package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/dataretire/retire/proof"
)

// Activities is registered with the worker; NotifyOwners is the activity.
//
//	n, err := notify.FromConfig(cfg.Notify)           // nil when nothing is configured
//	links, err := notify.LinksFromConfig(cfg.Signoff) // nil option when no links are configured
//	w.RegisterActivity(notify.NewActivities(n, cfg.Notify.UIURL, links))
type Activities struct {
	n     Notifier
	ui    string
	links *links
}

// Option configures the notify activities.
type Option func(*Activities)

// links is how personal links to the owners' page are made.
type links struct {
	portal string // base URL, no trailing slash
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

// WithLinks makes the notices on which owners can decide (Kind.OwnersDecide) one mail per
// owner, each with a personal, single-use link to the owners' page at portalURL, signed with
// secret (the page holds the same one) and valid for ttl from now(). now is the clock (nil:
// time.Now); tests inject one. The option does nothing when portalURL or secret is empty; a
// secret shorter than proof.MinLinkSecret makes every such notice fail, so the worker checks
// it at start (LinksFromConfig).
func WithLinks(portalURL string, secret []byte, ttl time.Duration, now func() time.Time) Option {
	return func(a *Activities) {
		if portalURL == "" || len(secret) == 0 {
			a.links = nil
			return
		}
		if now == nil {
			now = time.Now
		}
		a.links = &links{portal: strings.TrimRight(portalURL, "/"), secret: secret, ttl: ttl, now: now}
	}
}

// NewActivities makes the notify activities; n may be nil (then nothing is sent).
func NewActivities(n Notifier, uiURL string, opts ...Option) *Activities {
	a := &Activities{n: n, ui: uiURL}
	for _, o := range opts {
		if o != nil {
			o(a)
		}
	}
	return a
}

// Result says what NotifyOwners did; the workflow may keep it in its status.
type Result struct {
	Key  string   `json:"key"`
	Sent bool     `json:"sent"` // false when no channel is configured
	To   []string `json:"to,omitempty"`
	// Personal are the owners who were each sent their own mail with a personal link.
	Personal []string `json:"personal,omitempty"`
}

// ErrorType is the Temporal error type of a notification that no retry can deliver.
const ErrorType = "NotifyRefused"

// NotifyOwners renders the event and sends it on every configured channel. The workflow,
// the run and the namespace are taken from the activity's own info when the event leaves them
// empty, so the idempotency key is always "<workflow id>/<run id>/<kind>[/<seq>]".
// Permanent failures (unknown kind, an owner without a mail domain, a 4xx webhook, a 5xx
// relay reply) are non-retryable; the rest are retried by Temporal, and Deduper keeps a
// retry from re-sending on a channel that already delivered.
//
// With links (WithLinks), a notice on which owners can decide goes to the private channels
// (mail) as one message per owner, keyed "<event key>/to/<person>", with their own link; the
// rest of its recipients and the CC list get the common message under the event's key; the
// shared channels (webhook) get the common message, addressed to everyone, without any link.
func (a *Activities) NotifyOwners(ctx context.Context, e Event) (Result, error) {
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		if e.WorkflowID == "" {
			e.WorkflowID = info.WorkflowExecution.ID
		}
		if e.RunID == "" {
			e.RunID = info.WorkflowExecution.RunID
		}
		if e.Namespace == "" {
			e.Namespace = info.WorkflowNamespace
		}
	}
	m, err := Render(e, a.ui)
	if err != nil {
		return Result{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrorType, nil)
	}
	res := Result{Key: m.Key, To: m.To}
	if a.n == nil {
		return res, nil
	}
	if a.links == nil || !e.Kind.OwnersDecide() {
		err = a.n.Notify(ctx, m)
	} else {
		res.Personal, err = a.notifyWithLinks(ctx, e, m)
	}
	if err != nil {
		if IsPermanent(err) {
			return res, temporal.NewNonRetryableApplicationError(err.Error(), ErrorType, nil)
		}
		return res, temporal.NewApplicationError(err.Error(), "NotifyFailed")
	}
	res.Sent = true
	return res, nil
}

// notifyWithLinks sends m with personal links to the owners among its recipients. Every
// message is tried, and the errors are joined: a retry re-sends only what failed, since each
// personal message has its own key in each channel's Deduper.
func (a *Activities) notifyWithLinks(ctx context.Context, e Event, m Message) ([]string, error) {
	shared, private := channels(a.n)
	var errs []error
	if len(shared) > 0 {
		errs = append(errs, shared.Notify(ctx, m))
	}
	if len(private) == 0 {
		return nil, errors.Join(errs...)
	}
	var owners, others []string
	for _, who := range m.To {
		if e.isOwner(who) {
			owners = append(owners, who)
		} else {
			others = append(others, who)
		}
	}
	common := m
	common.To, common.Optional = others, true
	errs = append(errs, private.Notify(ctx, common))
	for _, who := range owners {
		pm, err := a.links.personal(e, m, who)
		if err == nil {
			err = private.Notify(ctx, pm)
		}
		errs = append(errs, err)
	}
	return owners, errors.Join(errs...)
}

// personal is m for one owner, with their link. The link's nonce is new at every call, so a
// retry of the activity after a failed send mints a new link for whoever was not served yet
// (those served are skipped by the Deduper under the same key): that is fine, since each link
// decides at most once and only the workflow spends nonces, and the mail that failed was
// never read.
func (l *links) personal(e Event, m Message, who string) (Message, error) {
	pl, err := l.mint(e, who)
	if err != nil {
		return Message{}, err
	}
	pm := m
	pm.Key = m.Key + "/to/" + pl.person
	pm.To = []string{who}
	pm.Addresses = nil
	if addr, ok := m.Addresses[who]; ok {
		pm.Addresses = map[string]string{who: addr}
	}
	pm.Personal = true
	pm.Text = pl.line + "\n\n" + m.Text
	return pm, nil
}

// personalLink is one person's link to one retirement on the owners' page.
type personalLink struct {
	person string // the directory's id, or the name as the notice gives it
	line   string // LinkLine, ready for the mail
}

// mint makes who's personal link to the retirement e is about (its workflow and run): a
// one-decision token signed with the owners' page's secret, valid for the links' ttl. The
// notices of one retirement and a fleet's digest both mint their links here, so a link
// means the same wherever it was mailed.
func (l *links) mint(e Event, who string) (personalLink, error) {
	id, name := who, who
	if p, ok := e.person(who); ok {
		id = p.ID
		if n := strings.TrimSpace(p.Name); n != "" {
			name = firstLine(n, 80)
		}
	}
	now := l.now()
	expires := now.Add(l.ttl)
	token, err := proof.SignLink(l.secret, proof.Link{
		Person: id, Workflow: e.WorkflowID, Run: e.RunID, Nonce: proof.NewNonce(),
		IssuedAt: now.Unix(), Expires: expires.Unix(),
	})
	if err != nil {
		return personalLink{}, permanent(fmt.Errorf("notify: personal link for %s: %w", id, err))
	}
	return personalLink{person: id, line: LinkLine(name, expires, l.portal, token)}, nil
}

// LinkLine is the line of a personal notice that carries its link; the owners' page serves
// the token at <portal>/l/<token>.
func LinkLine(name string, expires time.Time, portal, token string) string {
	return fmt.Sprintf("Decide on the owners' page (personal link for %s, valid until %s, one decision): %s/l/%s",
		name, stamp(expires), strings.TrimRight(portal, "/"), token)
}
