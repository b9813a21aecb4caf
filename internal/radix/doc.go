// Package radix sorts strings in linear time: a stable least-significant-
// byte radix sort on 8-byte windows past the keys' common prefix, recursing
// into the rare runs that share a window. The planner sorts its output and
// joins its inputs by sorting; a comparison sort there costs n log n
// string compares, each a cache miss once the input outgrows the cache,
// and that log factor alone breaks "10x the input, at most 12x the time".
package radix
