package strip

// keptEXIF returns a new TIFF-structured EXIF block (the payload of a JPEG
// APP1 "Exif\0\0" segment after that prefix, a PNG eXIf chunk, a WebP EXIF
// chunk, a HEIF Exif item after its offset field) holding only the tags
// that profile p keeps from the EXIF block b, or nil when nothing is kept.
// It never copies maker notes, thumbnails or unknown tags.
func keptEXIF(b []byte, p Profile) ([]byte, error) {
	return nil, nil // TODO: the IFD writer fills this in
}
