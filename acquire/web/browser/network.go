package browser

import (
	"context"
	"sync"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// netWatch counts the page's requests under way from the browser's own
// network events, observed through the DevTools protocol (nothing is
// injected into the page): a request counts from the moment the page
// makes it, before it reaches the proxy.
type netWatch struct {
	mu      sync.Mutex
	pending map[network.RequestID]bool
	since   time.Time
}

// watchNetwork starts counting on the target of ctx until ctx ends.
func watchNetwork(ctx context.Context) *netWatch {
	w := &netWatch{pending: map[network.RequestID]bool{}, since: time.Now()}
	sent := chromedp.Events(ctx, network.RequestWillBeSent)
	done := chromedp.Events(ctx, network.LoadingFinished)
	failed := chromedp.Events(ctx, network.LoadingFailed)
	go func() {
		for ev, err := range sent {
			if err != nil {
				return
			}
			w.set(ev.RequestID, true)
		}
	}()
	go func() {
		for ev, err := range done {
			if err != nil {
				return
			}
			w.set(ev.RequestID, false)
		}
	}()
	go func() {
		for ev, err := range failed {
			if err != nil {
				return
			}
			w.set(ev.RequestID, false)
		}
	}()
	return w
}

func (w *netWatch) set(id network.RequestID, on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if on {
		w.pending[id] = true
		return
	}
	delete(w.pending, id)
	if len(w.pending) == 0 {
		w.since = time.Now()
	}
}

// Quiet is how long no request of the page has been under way.
func (w *netWatch) Quiet() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) > 0 {
		return 0
	}
	return time.Since(w.since)
}
