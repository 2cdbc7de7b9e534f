package archive

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"

	"github.com/dataretire/retire/activities/engine"
	"github.com/parquet-go/parquet-go"
)

// checksumPrefix names the algorithm in the manifest, so that a future one can coexist.
const checksumPrefix = "rowsum-sha256:"

// RowSum is a table's content checksum: the SHA-256 of every row's canonical encoding,
// added as four uint64 lanes with wrap-around. Addition makes it independent of row order,
// so chunks exported in parallel (or a restore reading in another order) combine with Add.
// It is computed from typed values, never from the Parquet bytes: export hashes what it
// parsed, verify hashes what it decoded, and both go through AddRow.
type RowSum struct {
	lanes [4]uint64
	buf   []byte
}

// AddRow adds one row. kinds[i] is the kind of column i; row holds one value per column,
// as written to or read from Parquet (Value.Column() is the column index).
//
// Encoding, per column: 1 byte 0 (NULL) or 1, then for ints the 8 bytes big-endian, for
// floats the 8 bytes of the IEEE-754 bits big-endian, for text and bytes a 4-byte
// big-endian length and the bytes.
func (s *RowSum) AddRow(kinds []engine.Kind, row parquet.Row) error {
	if len(row) != len(kinds) {
		return fmt.Errorf("row has %d values, table has %d columns", len(row), len(kinds))
	}
	b := s.buf[:0]
	for i, v := range row {
		if v.Column() != i {
			return fmt.Errorf("row value %d belongs to column %d", i, v.Column())
		}
		if v.IsNull() {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		switch kinds[i] {
		case engine.KindInt64, engine.KindUint64:
			b = binary.BigEndian.AppendUint64(b, v.Uint64())
		case engine.KindFloat64:
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(v.Double()))
		case engine.KindText, engine.KindBytes:
			data := v.ByteArray()
			if uint64(len(data)) > math.MaxUint32 {
				return fmt.Errorf("column %d: value of %d bytes is too large", i, len(data))
			}
			b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
			b = append(b, data...)
		default:
			return fmt.Errorf("column %d: unknown kind %q", i, kinds[i])
		}
	}
	s.buf = b
	sum := sha256.Sum256(b)
	for i := range s.lanes {
		s.lanes[i] += binary.BigEndian.Uint64(sum[8*i:])
	}
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
