package activities

import (
	"context"
	"sync"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

// lookHub makes one look per server and interval serve every retirement this worker samples
// on it: the first sampler of a connection profile starts a poller, each look goes to every
// subscriber, and the poller stops when the last one leaves. Fifty retirements on one
// server cost the server what one does.
type lookHub struct {
	mu      sync.Mutex
	pollers map[string]*poller
}

type poller struct {
	subs   map[chan lookResult]bool
	cancel context.CancelFunc
	// looks counts the looks sent to the server (for tests and the bench).
	looks int
}

// lookResult is one look, or the error that stopped a poller.
type lookResult struct {
	look engine.ServerLook
	err  error
}

func newLookHub() *lookHub { return &lookHub{pollers: map[string]*poller{}} }

// subscribe returns the looks at the server of connection, every interval, until leave is
// called. A subscriber that falls behind gets the newest look, not a queue; the looks'
// Seq tells it that it missed some.
func (h *lookHub) subscribe(connection string, ad engine.EvidenceProber, interval time.Duration) (looks <-chan lookResult, leave func()) {
	ch := make(chan lookResult, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.pollers[connection]
	if !ok {
		ctx, cancel := context.WithCancel(context.Background())
		p = &poller{subs: map[chan lookResult]bool{}, cancel: cancel}
		h.pollers[connection] = p
		go h.poll(ctx, connection, p, ad, interval)
	}
	p.subs[ch] = true
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

// lookCount is how many looks the poller of connection has sent to its server so far.
func (h *lookHub) lookCount(connection string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p, ok := h.pollers[connection]; ok {
		return p.looks
	}
	return 0
}

func (h *lookHub) poll(ctx context.Context, connection string, p *poller, ad engine.EvidenceProber, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		look, err := ad.LookServer(ctx)
		if ctx.Err() != nil {
			return
		}
		h.mu.Lock()
		p.looks++
		look.Seq = int64(p.looks)
		for ch := range p.subs {
			select { // replace a look the subscriber has not taken yet
			case <-ch:
			default:
			}
			ch <- lookResult{look: look, err: err}
		}
		h.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
