package activities

import (
	"fmt"
	"time"

	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/proof"
)

// Target names the object being retired. Connection and Store are profile names from the
// worker's config; the worker resolves them to credentials, which therefore never travel
// through workflow history.
type Target struct {
	Connection string `json:"connection"`
	Object     string `json:"object"`
}

// PlanInput asks for validation and inventory.
type PlanInput struct {
	Target
	Strategy      engine.Strategy `json:"strategy"`
	SampleWindow  time.Duration   `json:"sample_window"`
	ObserveWindow time.Duration   `json:"observe_window"`
	Store         string          `json:"store"`
	// RestoreGate says the request asks for the verify-restore gate, which the plan refuses
	// now if the engine or the object cannot have it, rather than after weeks.
	RestoreGate bool `json:"restore_gate,omitempty"`
	// Who asks, the owners the request adds to the directory's, and whether owners must
	// sign off (decommission): the plan resolves who may decide from the owners directory.
	Requester     string   `json:"requester,omitempty"`
	Owners        []string `json:"owners,omitempty"`
	NeedsSignoff  bool     `json:"needs_signoff,omitempty"`
	ResolveOwners bool     `json:"resolve_owners,omitempty"`
}

// Signers are who may decide in a retirement, resolved from the owners directory at plan time
// and pinned with their keys: changes to the directory later do not change a running one.
type Signers struct {
	// Owners are the people the directory says own the object: they sign off, object and
	// extend. Added are people of the directory the request added (--owner): they are told,
	// and may object and extend, but the sign-off is the owners' (the requester does not get
	// to choose who signs). DBAs may acknowledge evidence and attempts (and so may owners and
	// the requester). Directory ids.
	Owners    []string `json:"owners"`
	Added     []string `json:"added,omitempty"`
	DBAs      []string `json:"dbas,omitempty"`
	Requester string   `json:"requester"`
	// Pins are the keys of the owners' page and of every person above.
	Pins proof.Pins `json:"pins"`
	// From says where the owners came from: the directory, or (dev worker without a
	// directory) the request, which proves nothing.
	From string `json:"from"`
	// Unlisted is true when the owners are the request's, not a directory's.
	Unlisted bool `json:"unlisted,omitempty"`
}

// Policy is what this worker allows. Production workers hold windows to the field-proven
// ranges; a worker started with --dev allows short ones for demos and tests.
type Policy struct {
	Dev              bool          `json:"dev"`
	MinSampleWindow  time.Duration `json:"min_sample_window"`
	MinObserveWindow time.Duration `json:"min_observe_window"`
	MaxObserveWindow time.Duration `json:"max_observe_window"`
	// HeartbeatTimeout is how soon the activities after the plan are retried elsewhere
	// when the worker running them dies.
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout"`
}

// Production policy: seeds/000 says 3-7 days of watching and 7-35 days of observation.
var (
	ProductionPolicy = Policy{MinSampleWindow: 24 * time.Hour, MinObserveWindow: 7 * 24 * time.Hour, MaxObserveWindow: 35 * 24 * time.Hour, HeartbeatTimeout: 2 * time.Minute}
	DevPolicy        = Policy{Dev: true, MinSampleWindow: time.Second, MinObserveWindow: time.Second, MaxObserveWindow: 35 * 24 * time.Hour, HeartbeatTimeout: 10 * time.Second}
)

// Plan is the result of the plan phase.
type Plan struct {
	Engine string `json:"engine"`
	// ServerID is the server's own identity (engine.Adapter.ServerID): the same through
	// every connection profile that reaches the server, printable, without spaces, safe
	// inside a workflow id. Empty in plans made before it existed.
	ServerID string `json:"server_id,omitempty"`
	// Evidence are the usage-evidence sources the server offers and their state, so that
	// the plan says how complete the evidence will be.
	Evidence  []engine.EvidenceSource `json:"evidence,omitempty"`
	Inventory engine.Inventory        `json:"inventory"`
	Policy    Policy                  `json:"policy"`
	Store     string                  `json:"store"`
	// ReminderDays is how many days before the observation window ends owners are
	// reminded (the worker's notify.reminder_days).
	ReminderDays int `json:"reminder_days,omitempty"`
	// Signers is who may decide, with their pinned keys (nil in plans made before it).
	Signers *Signers `json:"signers,omitempty"`
}

// SampleInput asks to watch who reaches the object until Until, continuing from Seen.
type SampleInput struct {
	Target
	Until time.Time        `json:"until"`
	Seen  []engine.Session `json:"seen"`
	// AuditCursor is where to read the audit log from ("": it is not read).
	AuditCursor string `json:"audit_cursor,omitempty"`
	// ReadCounters asks for a reading of the access counters at the end.
	ReadCounters bool `json:"read_counters,omitempty"`
}

// SampleResult is the aggregate of every look so far.
type SampleResult struct {
	Seen  []engine.Session `json:"seen"`
	Looks int              `json:"looks"`
	// Spans are the stretches of time this activity looked at without a gap; Tolerance is
	// the longest pause between two looks that still counts as looking.
	Spans       []engine.Span    `json:"spans,omitempty"`
	Tolerance   time.Duration    `json:"tolerance,omitempty"`
	Counters    *engine.Counters `json:"counters,omitempty"`
	AuditCursor string           `json:"audit_cursor,omitempty"`
	// Problems say what this activity could not see (counters switched off at a look, lines
	// the audit log lost).
	Problems []string `json:"problems,omitempty"`
}

// AccessInput asks for a snapshot of the access that the cut will remove.
type AccessInput struct {
	Target
	Strategy engine.Strategy `json:"strategy"`
}

// SnapshotInput carries a stored access snapshot to an activity that changes access.
type SnapshotInput struct {
	Target
	Snapshot engine.AccessSnapshot `json:"snapshot"`
}

// ArchiveInput asks for an export of the object to Path in Store.
type ArchiveInput struct {
	Target
	Store    string                `json:"store"`
	Path     string                `json:"path"`
	Snapshot engine.AccessSnapshot `json:"snapshot"`
}

// ArchiveResult says where the archive is and what it holds.
type ArchiveResult struct {
	Store  string `json:"store"`
	Bucket string `json:"bucket"`
	// Path is the archive's path in the store profile, under its prefix: what `retire
	// restore`, `verify` and `ls` take, not a location in the bucket (see URL).
	Path string `json:"path"`
	// URL is where the archive lies, s3://<bucket>/<store prefix>/<path>/: a plain S3 GET
	// of <URL>manifest.json finds the manifest. Records, notices and status print it.
	URL string `json:"url,omitempty"`
	// ManifestKey is the manifest's key in the bucket, the store's prefix included, and
	// ManifestURL the same as s3://<bucket>/<key>.
	ManifestKey    string `json:"manifest_key"`
	ManifestURL    string `json:"manifest_url,omitempty"`
	ManifestSHA256 string `json:"manifest_sha256"`
	Tables         int    `json:"tables"`
	Rows           int64  `json:"rows"`
	Bytes          int64  `json:"bytes"`
	Files          int    `json:"files"`
	// OnDiskBytes is what the object occupied on the server once it was exported (access
	// cut: what the drop frees), counted as OnDiskMethod says; OnDiskMethod is empty when
	// the engine cannot tell (then the plan's count stands).
	OnDiskBytes  int64  `json:"on_disk_bytes,omitempty"`
	OnDiskMethod string `json:"on_disk_method,omitempty"`
}

// Location is where the archive lies, as the record, the status and the notices print it:
// its URL, or for results written before they carried one, the path and where it is kept.
func (r ArchiveResult) Location() string {
	if r.URL != "" {
		return r.URL
	}
	return fmt.Sprintf("%s under the prefix of store %s, bucket %s", r.Path, r.Store, r.Bucket)
}

// ArchiveCounts say how far an export has come.
type ArchiveCounts struct {
	Table       string `json:"table"`
	TablesDone  int    `json:"tables_done"`
	TablesTotal int    `json:"tables_total"`
	ChunksDone  int    `json:"chunks_done"`
	ChunksTotal int    `json:"chunks_total"`
	Rows        int64  `json:"rows"`
	Bytes       int64  `json:"bytes"`
}

// SignalArchiveProgress is the signal by which the Archive activity tells its workflow its
// ArchiveCounts, so that the workflow's current details in the Temporal UI show the
// progress: a workflow cannot read its activities' heartbeats.
const SignalArchiveProgress = "archive-progress"

// ArchiveProgress is the heartbeat of the archive activity: the CLI shows it, and a retry
// resumes from the tables it lists as done.
type ArchiveProgress struct {
	ArchiveCounts
	// Done are the manifest entries of finished tables, so that a retry skips them.
	Done []archive.TableResult `json:"done,omitempty"`
	// DoneChunks are the finished chunks of tables still being exported, so that a retry
	// skips them too.
	DoneChunks []archive.ChunkResult `json:"done_chunks,omitempty"`
}

// VerifyInput asks to read an archive back.
type VerifyInput struct {
	Store          string `json:"store"`
	Path           string `json:"path"`
	ManifestSHA256 string `json:"manifest_sha256"`
}

// Verification is the outcome of reading the archive back.
type Verification struct {
	OK       bool     `json:"ok"`
	Tables   int64    `json:"tables"`
	Rows     int64    `json:"rows"`
	Files    int64    `json:"files"`
	Bytes    int64    `json:"bytes"`
	Problems []string `json:"problems,omitempty"`
}

// DropInput asks to drop the object; the archive is checked again at the moment of the drop.
type DropInput struct {
	Target
	Snapshot engine.AccessSnapshot `json:"snapshot"`
	Archive  ArchiveResult         `json:"archive"`
}

// GoneInput asks to prove the object is gone. BytesFreed is the plan's count; Archive, the
// verified archive the drop checked, carries the size measured after the export
// (OnDiskBytes), which is reported instead when there is one.
type GoneInput struct {
	Target
	Snapshot   engine.AccessSnapshot `json:"snapshot"`
	BytesFreed int64                 `json:"bytes_freed"`
	Archive    *ArchiveResult        `json:"archive,omitempty"`
}

// RecordInput asks to write the retirement record beside the archive.
type RecordInput struct {
	Store    string `json:"store"`
	Path     string `json:"path"`
	JSON     []byte `json:"json"`
	Markdown string `json:"markdown"`
}

// RecordLocation says where the record was written: the keys in the bucket (the store's
// prefix included) and the same as s3://<bucket>/<key> URLs.
type RecordLocation struct {
	JSONKey     string `json:"json_key"`
	MarkdownKey string `json:"markdown_key"`
	JSONURL     string `json:"json_url,omitempty"`
	MarkdownURL string `json:"markdown_url,omitempty"`
}
