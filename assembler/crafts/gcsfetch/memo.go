package gcsfetch

import "sync"

// memo is what a Fetcher keeps between fetches (tokens, the generations
// partials were read from): a map safe for parallel fetches, emptied
// when full, because losing an entry costs one token request or one
// unpinned resume and nothing else.
type memo[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]V
}

func (c *memo[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

// put keeps v under k, in a memo of at most limit entries.
func (c *memo[K, V]) put(k K, v V, limit int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[K]V{}
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= limit {
		clear(c.m)
	}
	c.m[k] = v
}

func (c *memo[K, V]) drop(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}
