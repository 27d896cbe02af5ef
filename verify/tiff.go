package verify

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// tileArrays reads the TileOffsets and TileByteCounts of the one image of
// TIFF data b (classic or BigTIFF), all of whose directory and values must
// lie within b; a second image, strips or sub-images are refused. It is the one piece of TIFF verify reads: a derivative
// that claims to be tiles of its original must place them where it says.
func tileArrays(b []byte) (offsets, counts []uint64, err error) {
	if len(b) < 8 {
		return nil, nil, errors.New("no TIFF header")
	}
	var o binary.ByteOrder
	switch string(b[:2]) {
	case "II":
		o = binary.LittleEndian
	case "MM":
		o = binary.BigEndian
	default:
		return nil, nil, errors.New("no TIFF header")
	}
	big := false
	switch o.Uint16(b[2:]) {
	case 42:
	case 43:
		big = true
	default:
		return nil, nil, errors.New("no TIFF header")
	}
	at := func(off uint64, n uint64) ([]byte, error) {
		if off > uint64(len(b)) || n > uint64(len(b))-off {
			return nil, fmt.Errorf("%d bytes at %d lie beyond the directory", n, off)
		}
		return b[off : off+n], nil
	}
	var ifd uint64
	entryLen, countLen, inline := uint64(12), uint64(2), uint64(4)
	if big {
		if len(b) < 16 {
			return nil, nil, errors.New("no TIFF header")
		}
		ifd = o.Uint64(b[8:])
		entryLen, countLen, inline = 20, 8, 8
	} else {
		ifd = uint64(o.Uint32(b[4:]))
	}
	cb, err := at(ifd, countLen)
	if err != nil {
		return nil, nil, err
	}
	n := uint64(o.Uint16(cb))
	if big {
		n = o.Uint64(cb)
	}
	if n > 4096 {
		return nil, nil, fmt.Errorf("a directory of %d entries", n)
	}
	entries, err := at(ifd+countLen, n*entryLen)
	if err != nil {
		return nil, nil, err
	}
	values := func(e []byte) ([]uint64, error) {
		typ := o.Uint16(e[2:])
		size := map[uint16]uint64{3: 2, 4: 4, 16: 8}[typ] // SHORT, LONG, LONG8
		if size == 0 {
			return nil, fmt.Errorf("a value of type %d", typ)
		}
		var count uint64
		v := e[8:]
		if big {
			count, v = o.Uint64(e[4:]), e[12:]
		} else {
			count = uint64(o.Uint32(e[4:]))
		}
		if count > 1<<24 {
			return nil, fmt.Errorf("%d values", count)
		}
		data := v[:inline]
		if count*size > inline {
			off := uint64(o.Uint32(v))
			if big {
				off = o.Uint64(v)
			}
			if data, err = at(off, count*size); err != nil {
				return nil, err
			}
		}
		out := make([]uint64, count)
		for i := range out {
			switch size {
			case 2:
				out[i] = uint64(o.Uint16(data[2*i:]))
			case 4:
				out[i] = uint64(o.Uint32(data[4*i:]))
			default:
				out[i] = o.Uint64(data[8*i:])
			}
		}
		return out, nil
	}
	next, err := at(ifd+countLen+n*entryLen, inline)
	if err != nil {
		return nil, nil, err
	}
	if string(next) != string(make([]byte, inline)) {
		return nil, nil, errors.New("a second image follows the first")
	}
	for i := range n {
		e := entries[i*entryLen : (i+1)*entryLen]
		switch o.Uint16(e) {
		case 273, 330: // StripOffsets, SubIFDs
			return nil, nil, fmt.Errorf("image data other than tiles (tag %d)", o.Uint16(e))
		case 324:
			if offsets, err = values(e); err != nil {
				return nil, nil, fmt.Errorf("tile offsets: %v", err)
			}
		case 325:
			if counts, err = values(e); err != nil {
				return nil, nil, fmt.Errorf("tile byte counts: %v", err)
			}
		}
	}
	if offsets == nil || len(offsets) != len(counts) {
		return nil, nil, fmt.Errorf("%d tile offsets and %d byte counts", len(offsets), len(counts))
	}
	return offsets, counts, nil
}
