package activities

import (
	"context"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

// pollHub makes one reading per server and interval serve every retirement this worker
// watches on it: the first watch of a connection profile starts a poller, each reading goes
// to every subscriber, and the poller stops when the last one leaves. Fifty retirements on
// one server cost the server what one does.
//
// Q is what a subscriber asks to be read (nothing, for the looks at the sessions; its
// database and accounts, for the counters), R one reading for all of them.
type pollHub[Q, R any] struct {
	mu      sync.Mutex
	pollers map[string]*poller[Q, R]
}

type poller[Q, R any] struct {
	subs   map[chan polled[R]]Q
	cancel context.CancelFunc
	// reads counts the readings sent to the server (for tests and the bench).
	reads int
}

// polled is one reading, numbered by its poller (a subscriber that sees a gap in the
// numbers missed one), or the error that stopped the poller.
type polled[R any] struct {
	value R
	seq   int64
	err   error
}

func newPollHub[Q, R any]() *pollHub[Q, R] {
	return &pollHub[Q, R]{pollers: map[string]*poller[Q, R]{}}
}

// subscribe returns the readings of connection's server, every interval, until leave is
// called. read reads for the queries of all the subscribers at once; done (if not nil) is
// called when the poller it starts stops. A subscriber that falls behind gets the newest
// reading, not a queue.
func (h *pollHub[Q, R]) subscribe(connection string, q Q, interval time.Duration, read func(context.Context, []Q) (R, error), done func()) (readings <-chan polled[R], leave func()) {
	ch := make(chan polled[R], 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.pollers[connection]
	if !ok {
		ctx, cancel := context.WithCancel(context.Background())
		p = &poller[Q, R]{subs: map[chan polled[R]]Q{}, cancel: cancel}
		h.pollers[connection] = p
		go func() {
			h.poll(ctx, p, interval, read)
			if done != nil {
				done()
			}
		}()
	}
	p.subs[ch] = q
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(p.subs, ch)
		if len(p.subs) == 0 && h.pollers[connection] == p {
			p.cancel()
			delete(h.pollers, connection)
		}
	}
}

// readCount is how many readings the poller of connection has sent to its server so far.
func (h *pollHub[Q, R]) readCount(connection string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p, ok := h.pollers[connection]; ok {
		return p.reads
	}
	return 0
}

// subscribers is how many watches the poller of connection serves now.
func (h *pollHub[Q, R]) subscribers(connection string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p, ok := h.pollers[connection]; ok {
		return len(p.subs)
	}
	return 0
}

func (h *pollHub[Q, R]) poll(ctx context.Context, p *poller[Q, R], interval time.Duration, read func(context.Context, []Q) (R, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		h.mu.Lock()
		qs := make([]Q, 0, len(p.subs))
		asked := make(map[chan polled[R]]bool, len(p.subs))
		for ch, q := range p.subs {
			qs = append(qs, q)
			asked[ch] = true
		}
		h.mu.Unlock()
		v, err := read(ctx, qs)
		if ctx.Err() != nil {
			return
		}
		h.mu.Lock()
		p.reads++
		for ch := range p.subs {
			if !asked[ch] {
				continue // it came while this was read, for what this did not read: the next one
			}
			select { // replace a reading the subscriber has not taken yet
			case <-ch:
			default:
			}
			ch <- polled[R]{value: v, seq: int64(p.reads), err: err}
		}
		h.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lookHub shares the looks at a server's sessions among the samplers on it.
type lookHub = pollHub[struct{}, engine.ServerLook]

// subscribeLooks is the looks of ad's server for a sampler. The poller keeps ad (and the
// connection it may keep open for its looks) until its last sampler leaves.
func subscribeLooks(h *lookHub, connection string, ad engine.EvidenceProber, interval time.Duration) (<-chan polled[engine.ServerLook], func()) {
	var done func()
	if c, ok := ad.(io.Closer); ok {
		done = func() { _ = c.Close() }
	}
	return h.subscribe(connection, struct{}{}, interval, func(ctx context.Context, _ []struct{}) (engine.ServerLook, error) {
		return ad.LookServer(ctx)
	}, done)
}

// countersOfMany is what an engine implements that reads many databases' counters in one
// reading (engine.EvidenceProber's Counters reads one).
type countersOfMany interface {
	CountersOfMany(ctx context.Context, objects []string, accounts []engine.AccountRef) (map[string]engine.Counters, error)
}

// counterQuery is what one watch of the attempts after a cut reads.
type counterQuery struct {
	object   string
	accounts []engine.AccountRef
}

// counterHub shares counter readings among the watches of attempts on one server.
type counterHub = pollHub[counterQuery, map[string]engine.Counters]

// subscribeCounters is the counters of q's object and accounts, read for every watch on
// the server at once.
func subscribeCounters(h *counterHub, connection string, ad countersOfMany, q counterQuery, interval time.Duration) (<-chan polled[map[string]engine.Counters], func()) {
	return h.subscribe(connection, q, interval, func(ctx context.Context, qs []counterQuery) (map[string]engine.Counters, error) {
		var objects []string
		var accounts []engine.AccountRef
		seen, seenAccount := map[string]bool{}, map[engine.AccountRef]bool{}
		for _, q := range qs {
			if !seen[q.object] {
				seen[q.object] = true
				objects = append(objects, q.object)
			}
			for _, a := range q.accounts {
				if !seenAccount[a] {
					seenAccount[a] = true
					accounts = append(accounts, a)
				}
			}
		}
		// Sorted, so that the statement is the same whatever order the map gave.
		slices.Sort(objects)
		return ad.CountersOfMany(ctx, objects, accounts)
	}, nil)
}

// of is q's part of a shared reading: its object's tables and its own accounts, in the
// order it asked for them, as Counters would have read them; ok is false when the reading
// did not cover q's object.
func (q counterQuery) of(all map[string]engine.Counters) (c engine.Counters, ok bool) {
	c, ok = all[q.object]
	mine := make([]engine.AccountCounter, 0, len(q.accounts))
	for _, a := range q.accounts {
		i := slices.IndexFunc(c.Accounts, func(ac engine.AccountCounter) bool { return ac.AccountRef == a })
		if i >= 0 {
			mine = append(mine, c.Accounts[i])
		}
	}
	c.Accounts = nil
	if len(mine) > 0 {
		c.Accounts = mine
	}
	return c, ok
}
