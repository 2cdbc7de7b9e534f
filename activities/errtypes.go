package activities

// ErrTypeDropRefusedIntact is the type of the non-retryable error the Drop activity returns
// when the server refused the drop and the object is still whole: nothing was destroyed, so
// the workflow gives access back instead of leaving it cut.
const ErrTypeDropRefusedIntact = "DropRefusedIntact"
