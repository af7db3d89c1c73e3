package store

import (
	"slices"
	"strings"
)

// Statements that list values take one of a few shapes, so that each is
// prepared once and not parsed again at every call: a list is padded to a
// power of two with its last value repeated (a value listed twice selects
// nothing more), and rows inserted together go in runs of a power of two.

// inShape is in with vals padded to a power of two.
func inShape[T any](col string, vals []T, args *[]any) string {
	return in(col, padded(vals), args)
}

// padded repeats the last of vals up to a power of two values.
func padded[T any](vals []T) []T {
	n := 1
	for n < len(vals) {
		n *= 2
	}
	if len(vals) == 0 || n == len(vals) {
		return vals
	}
	out := slices.Grow(slices.Clone(vals), n-len(vals))
	for len(out) < n {
		out = append(out, vals[len(vals)-1])
	}
	return out
}

// paddedRows is args (rows of cols values each) with its last row
// repeated up to a power of two rows, and how many rows that makes.
func paddedRows(args []any, cols int) ([]any, int) {
	rows := padded(slices.Collect(slices.Chunk(args, cols)))
	return slices.Concat(rows...), len(rows)
}

// pow2Run is how many of n rows go in the next statement: the largest
// power of two that fits, at most most (a power of two).
func pow2Run(n, most int) int {
	size := most
	for size > max(n, 1) {
		size /= 2
	}
	return size
}

// valueRows is "(?, ?), (?, ?)": rows rows of cols values.
func valueRows(rows, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}
