// Package stac acquires satellite scenes from STAC APIs and static STAC
// catalogs: searches whose every response is kept as the provider sent it,
// downloads that resume and retry, and each asset set against the
// provider's own statement about it (the file extension's file:checksum
// and file:size).
package stac
