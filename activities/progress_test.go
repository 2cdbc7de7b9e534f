package activities

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Reports of an export that changes all the time, ticked every interval: every minute in the
// first hour, then fewer and fewer, so that a long export cannot fill the workflow history.
func TestReportsThinOutAsTheExportGoesOn(t *testing.T) {
	start := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	count := func(d time.Duration) int {
		n, last := 0, time.Time{}
		for now := start.Add(time.Minute); !now.After(start.Add(d)); now = now.Add(time.Minute) {
			if reportDue(start, last, now, time.Minute) {
				n, last = n+1, now
			}
		}
		return n
	}
	assert.Equal(t, 60, count(time.Hour), "one a minute in the first hour")
	assert.Less(t, count(48*time.Hour), 320, "a 48-hour attempt")
	assert.Greater(t, count(48*time.Hour), 250, "still reports through a long export")
	assert.True(t, reportDue(start, time.Time{}, start.Add(time.Second), time.Minute), "the first report goes at once")
	assert.False(t, reportDue(start, start.Add(10*time.Second), start.Add(30*time.Second), time.Minute), "never closer than the interval")
}
