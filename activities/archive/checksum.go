package archive

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
)

// checksumPrefix names the algorithm in the manifest, so that a future one can coexist.
const checksumPrefix = "rowsum-sha256:"

// RowSum is a table's content checksum: the SHA-256 of every row's canonical encoding,
// added as four uint64 lanes with wrap-around. Addition makes it independent of row order
// and of how the table was split, so chunks exported in parallel combine with Add, and
// anyone holding the rows (a fresh scan of the source, a restore) can recompute it.
//
// It is computed from the exact source values (engine.Rows), never from Parquet bytes:
// export adds the values the source yielded, verify adds the values ReadTable rebuilds
// from the Parquet, so equal sums prove the archive gives back what was exported.
type RowSum struct {
	lanes [4]uint64
	buf   []byte
}

// AddRow adds one row of exact source values (nil is NULL).
//
// Encoding, per value: 1 byte 0 (NULL) or 1, then for a non-NULL value its length as 4
// bytes big-endian and its bytes.
func (s *RowSum) AddRow(row [][]byte) error {
	b := s.buf[:0]
	for i, v := range row {
		if v == nil {
			b = append(b, 0)
			continue
		}
		if uint64(len(v)) > math.MaxUint32 {
			return fmt.Errorf("column %d: value of %d bytes is too large", i, len(v))
		}
		b = append(b, 1, byte(len(v)>>24), byte(len(v)>>16), byte(len(v)>>8), byte(len(v)))
		b = append(b, v...)
	}
	s.buf = b
	sum := sha256.Sum256(b)
	s.lanes[0] += binary.BigEndian.Uint64(sum[0:])
	s.lanes[1] += binary.BigEndian.Uint64(sum[8:])
	s.lanes[2] += binary.BigEndian.Uint64(sum[16:])
	s.lanes[3] += binary.BigEndian.Uint64(sum[24:])
	return nil
}

// Add combines the checksum of another set of rows of the same table.
func (s *RowSum) Add(o *RowSum) {
	for i := range s.lanes {
		s.lanes[i] += o.lanes[i]
	}
}

// String is the manifest form: "rowsum-sha256:" and 64 hex digits.
func (s *RowSum) String() string {
	var out [32]byte
	for i, l := range s.lanes {
		binary.BigEndian.PutUint64(out[8*i:], l)
	}
	return checksumPrefix + hex.EncodeToString(out[:])
}

// ParseRowSum reads the manifest form back.
func ParseRowSum(text string) (RowSum, error) {
	var s RowSum
	h, ok := strings.CutPrefix(text, checksumPrefix)
	raw, err := hex.DecodeString(h)
	if !ok || err != nil || len(raw) != 32 {
		return s, fmt.Errorf("checksum %q is not %s and 64 hex digits", text, checksumPrefix)
	}
	for i := range s.lanes {
		s.lanes[i] = binary.BigEndian.Uint64(raw[8*i:])
	}
	return s, nil
}
