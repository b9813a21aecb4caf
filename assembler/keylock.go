package assembler

import (
	"context"
	"sort"
	"sync"
)

// keyLocks is one lock per material key (blob digest, volume key), so two
// remodels never work on the same material at once; whoever gets the lock
// re-checks whether the work is still needed.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{}
	refs int
}

func newKeyLocks() *keyLocks { return &keyLocks{locks: map[string]*keyLock{}} }

// lock takes every key (in sorted order, so two callers never deadlock)
// and returns the function that releases them.
func (k *keyLocks) lock(ctx context.Context, keys ...string) (func(), error) {
	keys = append([]string(nil), keys...)
	sort.Strings(keys)
	var held []string
	release := func() {
		for i := len(held) - 1; i >= 0; i-- {
			k.unlock(held[i])
		}
	}
	for i, key := range keys {
		if i > 0 && key == keys[i-1] {
			continue
		}
		k.mu.Lock()
		l := k.locks[key]
		if l == nil {
			l = &keyLock{ch: make(chan struct{}, 1)}
			k.locks[key] = l
		}
		l.refs++
		k.mu.Unlock()
		select {
		case l.ch <- struct{}{}:
			held = append(held, key)
		case <-ctx.Done():
			k.drop(key)
			release()
			return nil, ctx.Err()
		}
	}
	return release, nil
}

func (k *keyLocks) unlock(key string) {
	k.mu.Lock()
	l := k.locks[key]
	k.mu.Unlock()
	<-l.ch
	k.drop(key)
}

func (k *keyLocks) drop(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.locks[key]
	l.refs--
	if l.refs == 0 {
		delete(k.locks, key)
	}
}
