package activities

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/dataretire/retire/activities/engine"
)

// stillWhole says whether every table of tables (the archive's) is still in object, as the
// export would find it now (under strategy rename, in the quarantine schema): then a drop
// that failed destroyed nothing. Anything that keeps it from telling (the object gone, the
// server unreachable, an empty list) is "not whole", with why: the caller then keeps the
// drop's own error and nobody is told it is safe to give access back.
func stillWhole(ctx context.Context, ad engine.Adapter, object string, snap engine.AccessSnapshot, tables []string) (bool, string) {
	if len(tables) == 0 {
		return false, "the archive lists no tables to look for"
	}
	src, err := ad.Source(ctx, object, snap)
	if err != nil {
		return false, fmt.Sprintf("cannot look at %s: %v", object, err)
	}
	defer src.Close()
	have := src.Tables()
	var gone []string
	for _, t := range tables {
		if !slices.Contains(have, t) {
			gone = append(gone, t)
		}
	}
	if len(gone) > 0 {
		return false, fmt.Sprintf("%d archived table(s) are no longer there: %s", len(gone), strings.Join(gone, ", "))
	}
	return true, ""
}
