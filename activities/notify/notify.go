// Package notify tells the owners of a retirement what is happening and what they can do
// about it: clients were seen, access was cut (and how to object), the window is about to
// end, a sign-off is needed, the data was dropped, the retirement was aborted.
//
// Channels: a Slack-compatible webhook and SMTP mail. Every message carries an idempotency
// key, "<workflow id>/<run id>/<event>[/<seq>]", sent as the X-Retire-Idempotency-Key header
// (both channels) and folded into the mail's Message-ID, so a receiver can recognise a resend.
//
// What is and is not guaranteed about duplicates:
//
//   - A workflow replay never re-sends: the workflow calls the notify activity once per event
//     and Temporal replays the recorded result instead of running it again.
//   - A retry of the activity after a send that succeeded on this worker does not re-send:
//     Deduper remembers (in memory, bounded LRU) the keys each channel delivered, and two
//     attempts racing on the same worker send once.
//   - A retry after a send whose outcome this worker never saw (the receiver got the message
//     but the answer timed out, or the worker died in between) may re-send. The resend carries
//     the same key and Message-ID: Slack shows it twice; most mail systems file it under the
//     same Message-ID. Nothing is kept across worker restarts or between workers.
//   - With several channels (Multi), each channel is deduplicated on its own: a retry after the
//     webhook failed and the mail went out re-sends only the webhook.
//   - Notifications are at-least-once-or-given-up: the workflow must not let a notification
//     failure hold up or fail a retirement (see Activities).
//   - With personal links (WithLinks), each owner's mail is a message of its own, keyed
//     "<event key>/to/<person id>", so a retry re-sends only the owners not served yet. The
//     shared channels (the webhook: whoever reads it could decide as someone else) get the
//     common message without any link.
package notify

import (
	"container/list"
	"context"
	"errors"
	"strings"
	"sync"
)

// Message is one notification, ready for any channel.
type Message struct {
	Key     string   // idempotency key, e.g. "<workflow id>/<run id>/access-cut"
	Event   string   // the event kind, e.g. "access-cut"
	Subject string   // one line
	Text    string   // plain text (Markdown reads fine in both channels)
	To      []string // owner names or mail addresses
	Link    string   // the run in the Temporal UI, if known

	// Addresses are the mail addresses the owners directory gives for people in To; the
	// others get the channel's own rule (SMTP: name@domain).
	Addresses map[string]string
	// Personal marks a message for one person, with a link that lets its reader decide as
	// them: only private channels (mail) take it, and it is copied to nobody (no CC).
	Personal bool
	// Optional: a message addressed to nobody is no error. The common copy of a notice whose
	// recipients all got personal ones is optional: it still goes to the CC list, if any.
	Optional bool
}

// Private is what a channel says when its messages reach only the people they are addressed
// to (mail), so they may carry personal links. A channel that does not say is shared (a chat
// channel anybody in it reads) and never gets one.
type Private interface {
	Private() bool
}

func isPrivate(n Notifier) bool {
	p, ok := n.(Private)
	return ok && p.Private()
}

// channels splits n into its shared and its private channels (Multi is looked into).
func channels(n Notifier) (shared, private Multi) {
	switch v := n.(type) {
	case nil:
	case Multi:
		for _, c := range v {
			s, p := channels(c)
			shared, private = append(shared, s...), append(private, p...)
		}
	default:
		if isPrivate(n) {
			private = append(private, n)
		} else {
			shared = append(shared, n)
		}
	}
	return shared, private
}

// Notifier sends a message on one channel (or several).
type Notifier interface {
	Notify(ctx context.Context, m Message) error
}

// PermanentError marks a failure that a retry cannot fix: an owner without a mail domain,
// a webhook answering 4xx, a relay rejecting a recipient with 5xx.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

func permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent says whether err (or every error joined in it) is permanent.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs := j.Unwrap()
		for _, e := range errs {
			if !IsPermanent(e) {
				return false
			}
		}
		return len(errs) > 0
	}
	var p *PermanentError
	return errors.As(err, &p)
}

// Multi sends every message on every channel. It tries them all, and returns all their
// errors joined (nil when all succeeded).
type Multi []Notifier

// Notify sends m on each channel in turn.
func (ms Multi) Notify(ctx context.Context, m Message) error {
	var errs []error
	for _, n := range ms {
		if err := n.Notify(ctx, m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DefaultDedupeSize is how many delivered keys a Deduper remembers.
const DefaultDedupeSize = 4096

// Deduper wraps one channel and does not send a key it already delivered. It is in-process
// memory: see the package documentation for what that does and does not cover. Messages
// without a key are always sent.
type Deduper struct {
	next Notifier
	size int

	mu       sync.Mutex
	order    *list.List // of string keys, most recent in front
	sent     map[string]*list.Element
	inflight map[string]chan struct{}
}

// Dedupe wraps n; size <= 0 means DefaultDedupeSize.
func Dedupe(n Notifier, size int) *Deduper {
	if size <= 0 {
		size = DefaultDedupeSize
	}
	return &Deduper{next: n, size: size, order: list.New(), sent: map[string]*list.Element{}, inflight: map[string]chan struct{}{}}
}

// Notify sends m unless its key was delivered already; an attempt racing with another on the
// same key waits for it, and sends only if that one failed.
func (d *Deduper) Notify(ctx context.Context, m Message) error {
	if strings.TrimSpace(m.Key) == "" {
		return d.next.Notify(ctx, m)
	}
	for {
		d.mu.Lock()
		if e, ok := d.sent[m.Key]; ok {
			d.order.MoveToFront(e)
			d.mu.Unlock()
			return nil
		}
		ch, busy := d.inflight[m.Key]
		if !busy {
			ch = make(chan struct{})
			d.inflight[m.Key] = ch
			d.mu.Unlock()
			break
		}
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := d.next.Notify(ctx, m)
	d.mu.Lock()
	if err == nil {
		d.sent[m.Key] = d.order.PushFront(m.Key)
		for d.order.Len() > d.size {
			oldest := d.order.Back()
			d.order.Remove(oldest)
			delete(d.sent, oldest.Value.(string))
		}
	}
	close(d.inflight[m.Key])
	delete(d.inflight, m.Key)
	d.mu.Unlock()
	return err
}

// Private is the channel's: a Deduper only remembers what it sent.
func (d *Deduper) Private() bool { return isPrivate(d.next) }

// Delivered says whether key was delivered through this Deduper (and is still remembered).
func (d *Deduper) Delivered(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.sent[key]
	return ok
}

// redact replaces every secret in s by "[redacted]". Secrets shorter than 4 characters are
// left alone: they would blank out ordinary words and are not worth hiding.
func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// redactedError keeps the message safe to log and still unwraps to the original (whose text
// may hold the secret: do not print errors.Unwrap of it).
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

// Is lets errors.Is see through to the cause (e.g. context.DeadlineExceeded).
func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }

func redactErr(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	var p *PermanentError
	isPerm := errors.As(err, &p)
	out := error(&redactedError{msg: redact(err.Error(), secrets...), err: err})
	if isPerm {
		out = permanent(out)
	}
	return out
}
