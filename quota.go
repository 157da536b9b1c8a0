package storage

// Quotas: what one user may hold. Service.Config.Quota is passed to
// MetaStore.CreateUpload, which counts the user's uploads and inserts the
// new one in one transaction (or one conditional statement), so that the
// limits hold across every instance on the database. The stores count;
// Quota.Check decides, so that every store refuses alike.

// DefaultQuota is the per-user quota of serve and the Worker unless
// configured otherwise: 100 open uploads promising at most 50 GiB, and no
// limit on stored bytes.
func DefaultQuota() Quota {
	return Quota{MaxOpenUploads: 100, MaxOpenBytes: 50 << 30}
}

// On reports whether q limits anything.
func (q Quota) On() bool {
	return q.MaxOpenUploads > 0 || q.MaxOpenBytes > 0 || q.MaxStoredBytes > 0
}

// QuotaUsage is what a user holds, as a MetaStore counts it for a quota
// check: the uploads in OpenStatuses and their total_size, and, when the
// quota limits stored bytes, the total_size of the user's completed files
// and open uploads (deleted, cancelled and expired uploads hold nothing).
type QuotaUsage struct {
	OpenUploads int
	OpenBytes   int64
	StoredBytes int64
}

// Check returns the refusal of a new upload of size bytes by a user who
// holds use, or nil when q allows it: CodeTooManyUploads when the user's
// open uploads are at MaxOpenUploads, CodeQuotaExceeded when the new
// upload would take the open uploads' bytes over MaxOpenBytes or the
// stored bytes over MaxStoredBytes. Zero limits are no limit. A store's
// conditional insert must accept exactly the uploads Check accepts:
// open < MaxOpenUploads, OpenBytes+size <= MaxOpenBytes,
// StoredBytes+size <= MaxStoredBytes.
func (q Quota) Check(use QuotaUsage, size int64) error {
	switch {
	case q.MaxOpenUploads > 0 && use.OpenUploads >= q.MaxOpenUploads:
		return Errorf(CodeTooManyUploads, "the user has %d open uploads, the most allowed; complete or cancel one first",
			use.OpenUploads)
	case q.MaxOpenBytes > 0 && use.OpenBytes+size > q.MaxOpenBytes:
		return Errorf(CodeQuotaExceeded, "the user's open uploads already promise %d bytes; %d more would exceed the limit of %d bytes for open uploads",
			use.OpenBytes, size, q.MaxOpenBytes)
	case q.MaxStoredBytes > 0 && use.StoredBytes+size > q.MaxStoredBytes:
		return Errorf(CodeQuotaExceeded, "the user's files and open uploads hold %d bytes; %d more would exceed the user's quota of %d bytes",
			use.StoredBytes, size, q.MaxStoredBytes)
	}
	return nil
}
