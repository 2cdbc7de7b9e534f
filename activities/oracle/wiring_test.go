package oracle_test

import (
	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/activities/oracle"
)

// The Oracle adapter is what `retire restore` and the verify-restore gate look for.
var (
	_ engine.Loader           = (*oracle.Adapter)(nil)
	_ activities.ScratchNamer = (*oracle.Adapter)(nil)
	_ archive.ScriptOrder     = (*oracle.Adapter)(nil)
)
